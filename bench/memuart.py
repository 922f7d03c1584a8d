"""An in-memory UART for the benchmarks: a pre-recorded modem byte stream plus a tiny responder.

MicroPython only (it relies on ``stream.readinto(buf, n)``). Nothing here allocates per call
once built, so every byte the benchmarks count as allocated belongs to the driver:

* ``readinto(buf)`` behaves like a UART driver's receive buffer: it hands out up to
  ``len(buf)`` bytes, at most ``cap`` per call (4096, like a large ``rxbuf``), and ``None`` when
  nothing waits. The bytes come from ``io.BytesIO.readinto(buf, n)``, which copies without
  allocating (a ``memoryview`` slice would cost 32 bytes per call).
* A stream loaded with ``loop=True`` starts over when it ends, so a stream of a few whole
  frames stands for an endless download without holding megabytes in a 192 KiB heap.
* ``write(buf)`` answers command lines at once from a table of prebuilt replies (the reply is
  served before the stream); ``AT#XTCPSEND="<text>"`` gets ``#XTCPSEND: <len>`` and counts the
  text as payload. After ``AT#XTCPSEND``/``AT#XUDPSEND`` without data it acts as
  SLM's data mode: it counts payload bytes, finds ``+++`` the way SLM does (a partial ``+``/``++``
  survives across writes until a silence of ``idle_ms`` flushes it), counts those silences
  (pauses) and answers ``#XDATAMODE: 0`` when the terminator arrives.
"""

import io
from time import ticks_diff, ticks_us


_PLUS = 43
_CMD_MAX = 4200  # SLM's command limit is 4096 bytes


class MemUART:
    def __init__(self, cap=4096, idle_ms=2):
        self.cap = cap
        self._stream = None
        self._loop = False
        self._reply = None  # BytesIO of the reply being served, or None
        self._replies = []  # (command prefix, exact?, BytesIO)
        self._sent = {}  # text length (TCP) or -1 - length (UDP) -> reply to AT#X..SEND="<text>"
        self._cmd = bytearray(_CMD_MAX)
        self._cmd_len = 0
        self.idle_us = idle_ms * 1000
        # data mode
        self.raw = False
        self._held = 0  # trailing '+' bytes SLM still holds back
        self._last = 0  # ticks_us of the last data-mode write
        self._raw = 0  # bytes written in this data-mode session so far
        self._dm_exit = io.BytesIO(b"\r\n#XDATAMODE: 0\r\n")
        self._ok = io.BytesIO(b"\r\nOK\r\n")
        self.reset_counters()

    # ---------------------------------------------------------------- set-up

    def reply(self, command, answer, exact=True):
        """Answer ``command`` (bytes, no CR LF) with ``answer``; ``exact=False``: any line
        starting with ``command``."""
        self._replies.append((command, exact, io.BytesIO(answer)))

    def load(self, data, loop=False):
        """Serve ``data`` after any pending reply; ``loop``: start over at its end."""
        self._stream = io.BytesIO(data)
        self._loop = loop

    def reset_counters(self):
        self.wire = 0  # bytes written by the driver
        self.payload = 0  # data-mode payload bytes (SLM would send them)
        self.text = 0  # payload bytes sent as AT#X..SEND="<text>"
        self.strings = 0  # such commands
        self.sessions = 0  # data-mode sessions entered
        self.pauses = 0  # silences >= idle_ms inside data mode (each one flushes SLM's buffer)
        self.pause_us = 0  # their total length
        self.commands = 0
        self.served = 0  # bytes handed out by readinto

    # ---------------------------------------------------------------- UART API

    def readinto(self, buf):
        n = len(buf)
        if n > self.cap:
            n = self.cap
        r = self._reply
        if r is not None:
            k = r.readinto(buf, n)
            if k:
                self.served += k
                return k
            self._reply = None
        s = self._stream
        if s is None:
            return None
        k = s.readinto(buf, n)
        if not k and self._loop:
            s.seek(0)
            k = s.readinto(buf, n)
        if not k:
            return None
        self.served += k
        return k

    def write(self, buf):
        n = len(buf)
        self.wire += n
        if self.raw:
            self._write_raw(buf, n)
        else:
            self._write_cmd(buf, n)
        return n

    # ---------------------------------------------------------------- commands

    def _serve(self, r):
        r.seek(0)
        self._reply = r

    def _write_cmd(self, buf, n):
        c = self._cmd
        start = self._cmd_len
        if start + n > _CMD_MAX:
            raise ValueError("command too long for MemUART")
        c[start : start + n] = buf  # slice assignment of equal length: no allocation
        end = start + n
        self._cmd_len = end
        lf = c.find(b"\r\n", start - 1 if start else 0, end)
        if lf < 0:
            return
        self._cmd_len = 0
        self.commands += 1
        if lf == 11 and (c.startswith(b"AT#XTCPSEND") or c.startswith(b"AT#XUDPSEND")):
            # No data: enter data mode, OK first.
            self.raw = True
            self.sessions += 1
            self._held = 0
            self._last = 0
            self._raw = 0
            self._serve(self._ok)
            return
        if lf > 13 and (c.startswith(b'AT#XTCPSEND="') or c.startswith(b'AT#XUDPSEND="')):
            # String mode: the text between the quotes is payload; answer with its length.
            k = lf - 14
            self.text += k
            self.strings += 1
            key = k if c[4] == 84 else -1 - k  # 'T'CP or UDP
            r = self._sent.get(key)
            if r is None:  # built once per length, outside the measured steady state
                what = b"TCP" if key >= 0 else b"UDP"
                r = self._sent[key] = io.BytesIO(b"\r\n#X%sSEND: %d\r\n\r\nOK\r\n" % (what, k))
            self._serve(r)
            return
        for cmd, exact, r in self._replies:
            if c.startswith(cmd) and (not exact or lf == len(cmd)):
                self._serve(r)
                return
        self._serve(self._ok)

    # ---------------------------------------------------------------- data mode

    def _write_raw(self, buf, n):
        now = ticks_us()
        if self._last:
            gap = ticks_diff(now, self._last)
            if gap >= self.idle_us:
                # SLM's inactivity timer fired: it flushed, a held '+'/'++' went out as data.
                self.pauses += 1
                self.pause_us += gap
                self._held = 0
        # SLM matches "+++" across writes: a run of '+' may continue the held one.
        run = self._held
        i = 0
        while i < n and buf[i] == _PLUS:
            run += 1
            i += 1
            if run >= 3:
                self._end_raw(i)
                return
        if i < n:
            j = self._find_quit(buf, i, n)
            if j >= 0:
                self._end_raw(j + 3)
                return
            run = 0  # buf[i] is not '+', so the trailing run starts after it
            while run < 2 and buf[n - 1 - run] == _PLUS:
                run += 1
        self._held = run
        self._raw += n
        self._last = ticks_us()

    def _find_quit(self, buf, i, n):
        # buf may be a memoryview (no find): copy it into the idle command buffer first.
        if n <= _CMD_MAX:
            c = self._cmd
            c[0:n] = buf  # equal length: no allocation
            return c.find(b"+++", i, n)
        while i + 2 < n:
            if buf[i + 2] != _PLUS:
                i += 3
            elif buf[i + 1] != _PLUS:
                i += 2
            elif buf[i] != _PLUS:
                i += 1
            else:
                return i
        return -1

    def _end_raw(self, k):
        # The terminator ends at buf[k - 1]; the session's bytes before it were payload.
        self.payload += self._raw + k - 3
        self._raw = 0
        self.raw = False
        self._last = 0
        self._held = 0
        self._serve(self._dm_exit)
