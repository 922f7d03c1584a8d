"""A scripted UART for engine tests; runs on MicroPython and CPython alike.

The driver reads what the test queued with ``feed()``, in pieces no larger than ``chunk``
(1 = a byte at a time; 0 = everything at once; -1 = random sizes from a seeded generator).
Every command line the driver writes (ending in CR LF) is handed to ``responder(mock, line)``,
which may queue the modem's answer.
"""


class MockUART:
    def __init__(self, responder=None, chunk=0, seed=1):
        self.rx = bytearray()
        self.pos = 0
        self.tx = bytearray()
        self.commands = []
        self.responder = responder
        self.chunk = chunk
        self._seed = seed or 1
        self._line_start = 0
        self.raw = False  # True: written bytes are data-mode payload, not command lines
        # Set: a "+++" written in data mode ends it, as SLM does, and this is the reply fed.
        self.quit_reply = None

    def _rand(self, n):
        # xorshift: the same split sequence on every runtime
        x = self._seed
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._seed = x
        return 1 + x % n

    def feed(self, data):
        if self.pos == len(self.rx):
            # Nothing unread: take a bytearray as it is (large streams fit a small heap).
            self.rx = data if isinstance(data, bytearray) else bytearray(data)
            self.pos = 0
        else:
            self.rx += data

    def pending(self):
        return len(self.rx) - self.pos

    def readinto(self, buf):
        avail = len(self.rx) - self.pos
        if not avail:
            return None
        n = len(buf)
        if n > avail:
            n = avail
        if self.chunk > 0 and n > self.chunk:
            n = self.chunk
        elif self.chunk < 0:
            n = min(n, self._rand(64))
        buf[0:n] = self.rx[self.pos : self.pos + n]
        self.pos += n
        return n

    def write(self, data):
        self.tx += data
        if self.raw:
            if self.quit_reply is not None and self.tx.endswith(b"+++"):
                self.raw = False
                self._line_start = len(self.tx)
                self.feed(self.quit_reply)
            return len(data)
        while True:
            end = self.tx.find(b"\r\n", self._line_start)
            if end < 0:
                break
            line = bytes(self.tx[self._line_start : end])
            self._line_start = end + 2
            self.commands.append(line)
            if self.responder is not None:
                self.responder(self, line)
            if self.raw:
                self._line_start = len(self.tx)
                break
        return len(data)

    def written_since(self, mark):
        return bytes(self.tx[mark:])


def ok_responder(mock, line):
    """Answers every command with OK (and AT#XSLMVER with a version line)."""
    if line == b"AT#XSLMVER":
        mock.feed(b'\r\n#XSLMVER: "3.1.0","2.7.0"\r\n')
    mock.feed(b"\r\nOK\r\n")
