"""Stream builders and an application-side rig for fuzzing the engine.

Runs on MicroPython (``unix_port_tests/test_fuzz_corpus.py``) and on CPython
(``tests/test_fuzz_engine.py``, driven by hypothesis), so it sticks to what both have.

A :class:`Rig` is a modem on a :class:`~mockuart.MockUART` with a TCP client and a UDP client
open. The test feeds it modem output; :meth:`Rig.pump` plays the application: it polls and
reads both connections until the UART is empty and nothing moves, and records what each
connection handed out, in order: data (TCP: one ``bytearray`` per run of reads; UDP:
``(datagram, address)``) and an ``int`` (errno) for each ``OSError``.
By default it keeps reading a connection after its end was reported (``read_after_close``),
so that bytes a garbled stream sends to a closed connection cannot stall the parser.
Any other exception escaping the driver is recorded in ``rig.escaped`` (a test failure).
"""

from mockuart import MockUART, ok_responder

from slm_mpy import SLM
from slm_mpy.engine import LINE

TCP_OPEN = b'AT#XTCPCLI=1,"h",1'
UDP_OPEN = b'AT#XUDPCLI=1,"h",7'
TCP_OPENED = b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n'
UDP_OPENED = b'\r\n#XUDPCLI: 1,"connected"\r\n\r\nOK\r\n'
ETIMEDOUT = 110
EIO = 5

# Byte strings that look like protocol; valid payloads are built from them too.
LOOKALIKES = (
    b"\r\n",
    b"\n",
    b"\r",
    b"OK",
    b"\r\nOK\r\n",
    b"\r\nERROR\r\n",
    b"\r\n+CME ERROR: 5\r\n",
    b"Ready\r\n",
    b"\xc0Ready\r\n",
    b"\r\n#XTCPDATA: 5\r\n",
    b"\r\n#XTCPDATA: 2048\r\n",
    b'\r\n#XUDPDATA: 3,"1.2.3.4",5\r\n',
    b"#XTCPDATA: 99999\r\n",
    b"+++",
    b"++",
    b"\r\n#XDATAMODE: 0\r\n",
    b"\r\n+CEREG: 1\r\n",
    b'\r\n#XTCPCLI: -104,"disconnected"\r\n',
    b'\r\n#XUDPCLI: -5,"disconnected"\r\n',
    b"\x00",
    b"\xff\xfe",
    b'"',
)


def tcp_frame(payload):
    return b"\r\n#XTCPDATA: %d\r\n" % len(payload) + payload


def udp_frame(payload, addr=None):
    if addr is None:
        return b"\r\n#XUDPDATA: %d\r\n" % len(payload) + payload
    return b'\r\n#XUDPDATA: %d,"%s",%d\r\n' % (len(payload), addr[0].encode(), addr[1]) + payload


def line(text):
    return b"\r\n" + text + b"\r\n"


class Rig:
    """A modem with a TCP and a UDP client open on a scripted UART (see the module doc)."""

    def __init__(self, chunk=0, seed=1, tcp=True, udp=True, read_after_close=True):
        self.answers = {}  # command line (bytes) -> reply bytes; others get OK
        self.uart = MockUART(self._respond, chunk=chunk, seed=seed)
        self.uart.quit_reply = b"\r\n#XDATAMODE: 0\r\n"  # SLM leaves data mode and says so
        self.uart.feed(b"Ready\r\n")
        self.modem = SLM(self.uart)
        self.modem.wait_ready(1000)
        self.ring_size = len(self.modem.rxbuf)
        self.cereg = []
        self.others = []
        self.modem.on("+CEREG", self.cereg.append)
        self.modem.on("", self.others.append)
        self.escaped = []  # (where, exception) for anything that is not an OSError
        self._buf = bytearray(2048)
        self.tcp_events = []
        self.udp_events = []
        self.tcp = self.modem.tcp_client("h", 1) if tcp else None
        self.udp = self.modem.udp_client("h", 7) if udp else None
        self.queue_sizes = [_queue_size(c) for c in (self.tcp, self.udp)]
        self.tcp_closed = False
        self.udp_closed = False
        # False: like most applications, stop reading a connection once it reported its end.
        self.read_after_close = read_after_close

    def _respond(self, mock, cmd):
        reply = self.answers.get(cmd)
        if reply is not None:
            mock.feed(reply)
        elif cmd == b"AT#XTCPSEND" or cmd == b"AT#XUDPSEND":
            mock.raw = True  # data mode, until the "+++" (uart.quit_reply)
            mock.feed(b"\r\nOK\r\n")
        elif cmd == TCP_OPEN:
            mock.feed(TCP_OPENED)
        elif cmd == UDP_OPEN:
            mock.feed(UDP_OPENED)
        else:
            ok_responder(mock, cmd)

    def feed(self, data):
        self.uart.feed(data)

    # --- the application

    def _poll(self):
        try:
            return self.modem.poll()
        except OSError:
            return True
        except Exception as e:
            self.escaped.append(("poll", e))
            return True

    def _read_tcp(self):
        c = self.tcp
        if c is None or (self.tcp_closed and not self.read_after_close):
            return False
        try:
            n = c.recv_into(self._buf, timeout_ms=0)
        except OSError as e:
            if e.errno == ETIMEDOUT:
                return False
            self.tcp_events.append(e.errno)
            return True
        except Exception as e:
            self.escaped.append(("tcp recv", e))
            return True
        if n:
            # Consecutive data go into one bytearray: a byte-by-byte stream would otherwise
            # leave thousands of small objects on a 192 KiB heap.
            events = self.tcp_events
            if not events or isinstance(events[-1], int):
                events.append(bytearray())
            events[-1] += memoryview(self._buf)[:n]
            return True
        if self.tcp_closed:
            return False
        self.tcp_closed = True
        return True

    def _read_udp(self):
        u = self.udp
        if u is None or (self.udp_closed and not self.read_after_close):
            return False
        try:
            data, addr = u.recvfrom(2048, timeout_ms=0)
        except OSError as e:
            if e.errno == ETIMEDOUT:
                return False
            self.udp_events.append(e.errno)
            return True
        except Exception as e:
            self.escaped.append(("udp recv", e))
            return True
        if data or addr is not None:
            self.udp_events.append((data, addr))
            return True
        if self.udp_closed:
            return False
        self.udp_closed = True
        return True

    def pump(self, limit=200000):
        """Play the application until the UART is drained and nothing moves any more."""
        quiet = 0
        for _ in range(limit):
            moved = self._poll()
            moved = self._read_tcp() or moved
            moved = self._read_udp() or moved
            if moved or self.uart.pending():
                quiet = 0
            else:
                quiet += 1
                if quiet >= 3:
                    return
        raise AssertionError("the driver kept busy for %d rounds" % limit)

    def release(self):
        """Drop the large buffers (stream, records) once a case is judged."""
        self.uart.rx = bytearray()
        self.uart.pos = 0
        self.uart.tx = bytearray()
        self.uart._line_start = 0
        self.uart.commands = []
        self.tcp_events = []
        self.udp_events = []

    # --- checks

    def flush(self):
        """Bytes that end any frame or line the garbage may have begun (<= 2048 payload)."""
        self.feed(b"\r\n" * 1030)
        self.pump()

    def check_bounded(self):
        m = self.modem
        assert len(m.rxbuf) == self.ring_size, "receive buffer grew"
        assert m.rxsize == self.ring_size
        assert 0 <= m.head <= m.tail <= m.rxsize
        assert [_queue_size(c) for c in (self.tcp, self.udp)] == self.queue_sizes, "a connection queue grew"

    def check_no_escape(self):
        assert not self.escaped, "undocumented exception(s): %r" % (self.escaped,)

    def check_resynchronised(self):
        """After :meth:`flush`: parser idle in LINE state and a command exchange works."""
        m = self.modem
        assert m.state == LINE, "parser state %d after the flush" % m.state
        assert m.tail == m.head, "%d bytes left unparsed" % (m.tail - m.head)
        self.uart.responder = self._respond
        self.answers[b"AT+CGMI"] = b"\r\nNordic Semiconductor ASA\r\n\r\nOK\r\n"
        assert m.at("AT+CGMI", timeout_ms=500) == ["Nordic Semiconductor ASA"]
        assert m.at("AT", timeout_ms=500) == []


def _queue_size(conn):
    # The byte size of a connection's receive queue where it is a bytearray (a RingIO is
    # fixed by construction); None otherwise.
    buf = getattr(getattr(conn, "_rx", None), "buf", None)
    return len(buf) if buf is not None else None


def same_concat(parts_a, parts_b):
    """``b"".join(parts_a) == b"".join(parts_b)`` without building either join.

    A 192 KiB heap that held many streams may have no contiguous block for the joins.
    """
    if sum(len(p) for p in parts_a) != sum(len(p) for p in parts_b):
        return False
    ia = ib = oa = ob = 0
    while ia < len(parts_a) and ib < len(parts_b):
        a = parts_a[ia]
        b = parts_b[ib]
        n = min(len(a) - oa, len(b) - ob, 256)  # compared as small copies
        if bytes(a[oa : oa + n]) != bytes(b[ob : ob + n]):
            return False
        oa += n
        ob += n
        if oa == len(a):
            ia += 1
            oa = 0
        if ob == len(b):
            ib += 1
            ob = 0
    return True


def tcp_data(events):
    """(data before the first error, errors, data after the first error) of tcp_events."""
    before = []
    after = []
    errors = []
    for ev in events:
        if isinstance(ev, int):
            errors.append(ev)
        elif errors:
            after.append(ev)
        else:
            before.append(ev)
    return b"".join(before), errors, b"".join(after)


class Rand:
    """A small seeded generator with the same sequence on MicroPython and CPython."""

    def __init__(self, seed):
        self.x = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def below(self, n):
        return self.next() % n

    def between(self, lo, hi):
        return lo + self.next() % (hi - lo + 1)

    def choice(self, seq):
        return seq[self.next() % len(seq)]

    def bytes(self, n, exclude=b""):
        out = bytearray(n)
        i = 0
        while i < n:
            b = self.next() & 255
            if exclude and b in exclude:
                continue
            out[i] = b
            i += 1
        return bytes(out)

    def payload(self, n):
        """``n`` bytes mixing random binary and protocol look-alikes."""
        out = bytearray()
        while len(out) < n:
            if self.below(3):
                out += self.bytes(self.between(1, 40))
            else:
                out += self.choice(LOOKALIKES)
        return bytes(out[:n])
