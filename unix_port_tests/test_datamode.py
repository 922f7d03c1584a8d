"""Data-mode parsing must not lose or change downlink bytes (issue 8); scripted UART.

While the host streams in data mode SLM forwards downlink raw. SLM writes "#XDATAMODE" only
after the host's "+++" (NCS >= 2.1, protocol section 4.3/4.6), so before the driver sent its
terminator, "\r\n#XDATAMODE: 0\r\n" in the downlink can only be payload -- for instance an
echo of the application's own data. It must reach the application unchanged. After the
host's "+++" SLM's real line comes exactly once and SLM is in command mode behind it: what
follows it is silence or a CR LF message, never raw bytes. The modem's own "+++" (SLM >= 2.7,
connection lost) is followed by silence until the host answers it.

What no rule can tell apart (the driver takes SLM's side): a copy of the line that ends a
network segment while the host's "+++" is on its way and nothing follows it for
dmrx.DM_QUIET_MS (10 ms), or that is followed by CR LF and '#', '+' or '%'.

Every case runs with all bytes at once, one byte per UART read and random splits.
"""

from mockuart import MockUART, ok_responder

from slm_mpy import SLM
from slm_mpy.engine import LINE

FAKE = b"\r\n#XDATAMODE: 0\r\n"
SPLITS = (0, 1, -1)
ECONNRESET = 104
ETIMEDOUT = 110


def run(downlink, chunk):
    entered = []

    def responder(mock, line):
        if line.startswith(b"AT#XTCPCLI=1"):
            mock.feed(b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n')
        elif line == b"AT#XDATACTRL?":
            mock.feed(b"\r\n#XDATACTRL: 0,12\r\n\r\nOK\r\n")
        elif line == b"AT#XTCPSEND":
            mock.raw = True
            # The peer's bytes arrive while we stream (once: the first time data mode starts).
            mock.feed(b"\r\nOK\r\n" + (b"" if entered else downlink))
            entered.append(1)
        else:
            ok_responder(mock, line)

    uart = MockUART(responder, chunk=chunk, seed=5)
    uart.feed(b"Ready\r\n")
    m = SLM(uart)
    m.wait_ready(1000)
    c = m.tcp_client("h", 1, timeout_ms=3000)
    uart.quit_reply = FAKE  # the real end of data mode
    payload = bytes(range(256)) * 8  # binary: goes through data mode
    assert c.send(payload) == len(payload)
    assert m.state == LINE
    got = bytearray()
    while True:
        try:
            chunk_ = c.recv(4096, timeout_ms=50)
        except OSError as e:
            raise AssertionError("error %r after %d of %d downlink bytes" % (e, len(got), len(downlink)))
        if not chunk_:
            break
        got += chunk_
        if len(got) >= len(downlink):
            break
    return bytes(got)


def test_datamode_urc_text_in_the_downlink_is_data():
    downlink = b"echo:" + FAKE + b"more echo after it"
    for chunk in (0, 1, -1):
        got = run(downlink, chunk)
        assert got == downlink, (chunk, got)


def test_terminator_text_in_the_downlink_is_data():
    # "+++" followed by more downlink: the modem kept sending, so it was data.
    downlink = b"a+++b" + FAKE + b"+++c"
    for chunk in (0, 1, -1):
        got = run(downlink, chunk)
        assert got == downlink, (chunk, got)


# --------------------------------------------------------------------------- scripted passes

PAYLOAD = bytes(range(256)) * 8  # binary, no "+++": one data-mode pass unless the modem stops it


class Exchange:
    """A TCP send in data mode against a scripted SLM.

    ``passes``: for each data-mode pass in turn, ``(after_ok, after_quit)``: the raw bytes SLM
    writes right after the OK that entered data mode, and what it writes once the host's
    "+++" arrived (the in-flight downlink, frames, and its #XDATAMODE line). Passes beyond
    the list get ``(b"", FAKE)``: no downlink, a clean exit.
    """

    def __init__(self, passes, chunk):
        self.passes = list(passes)
        self.pass_no = 0
        uart = MockUART(self._respond, chunk=chunk, seed=11)
        uart.feed(b"Ready\r\n")
        self.uart = uart
        self.modem = SLM(uart)
        self.modem.wait_ready(1000)
        self.conn = self.modem.tcp_client("h", 1, timeout_ms=3000)
        uart.quit_reply = FAKE

    def _respond(self, mock, line):
        if line.startswith(b"AT#XTCPCLI=1"):
            mock.feed(b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n')
        elif line == b"AT#XTCPSEND":
            after_ok, mock.quit_reply = self.passes[self.pass_no] if self.pass_no < len(self.passes) else (b"", FAKE)
            self.pass_no += 1
            mock.raw = True
            mock.feed(b"\r\nOK\r\n" + after_ok)
        else:
            ok_responder(mock, line)

    def send(self):
        """``c.send(PAYLOAD)``: its result, or the OSError it raised."""
        try:
            return self.conn.send(PAYLOAD)
        except OSError as e:
            return e

    def received(self):
        """Everything queued for the application (after send returned: nothing is in flight)."""
        got = bytearray()
        while True:
            try:
                data = self.conn.recv(4096, timeout_ms=0)
            except OSError as e:
                if e.errno == ETIMEDOUT:
                    break
                raise
            if not data:
                break
            got += data
        return bytes(got)

    def uplink(self):
        """The payload bytes the modem got: each pass's raw bytes up to its "+++"."""
        out = bytearray()
        tx = bytes(self.uart.tx)
        start = tx.find(b"AT#XTCPSEND\r\n")
        while start >= 0:
            start += 13
            end = tx.find(b"+++", start)
            out += tx[start:end]
            start = tx.find(b"AT#XTCPSEND\r\n", end)
        return bytes(out)


def check_clean(passes, expected):
    for chunk in SPLITS:
        x = Exchange(passes, chunk)
        r = x.send()
        assert r == len(PAYLOAD), (chunk, r)
        assert x.modem.state == LINE and x.modem.dm_result == 0, chunk
        got = x.received()
        assert got == expected, (chunk, got)
        assert x.uplink() == PAYLOAD, chunk
        assert x.modem.at("AT") == [], chunk  # the line protocol goes on after the exit
    return x


def test_real_exit_right_after_in_flight_downlink():
    # Downlink that SLM wrote before it saw the host's "+++" ends right where its own line
    # begins: both arrive together, no separator.
    check_clean([(b"", b"in flight" + FAKE)], b"in flight")
    check_clean([(b"early:" + FAKE + b"x", b"late\r" + FAKE)], b"early:" + FAKE + b"xlate\r")
    # SLM's next message right behind its line: a frame for the bytes that came after it.
    check_clean([(b"", b"in flight" + FAKE + b"\r\n#XTCPDATA: 5\r\nafter")], b"in flightafter")


def test_urc_text_at_the_very_end_of_the_downlink():
    # The echo of the line is the last thing the peer sent; SLM's own line comes after it.
    # Only the last of two can be SLM's; a blank line after it is no SLM message either.
    check_clean([(b"", b"echo" + FAKE + FAKE)], b"echo" + FAKE)
    check_clean([(b"echo" + FAKE, FAKE)], b"echo" + FAKE)
    check_clean([(b"", b"x" + FAKE + b"\r\n" + FAKE)], b"x" + FAKE + b"\r\n")
    check_clean([(b"", b"x\r\n#XDATAMODE: 12345678901234567890\r\n" + FAKE)], b"x\r\n#XDATAMODE: 12345678901234567890\r\n")


def test_frame_between_the_host_terminator_and_the_exit():
    # SLM left data mode as the peer's next bytes came in: they get a header, before the line.
    x = check_clean([(b"raw:", b"more\r\n#XTCPDATA: 5\r\nhello" + FAKE)], b"raw:morehello")
    assert x.modem.garbage_lines == 0
    # The same header text in the raw stream before the host's "+++" is payload.
    fake_frame = b"\r\n#XTCPDATA: 5\r\nhello\r\n#X"
    check_clean([(b"a" + fake_frame + b"b", FAKE)], b"a" + fake_frame + b"b")


def test_modem_terminator_then_the_error():
    # SLM >= 2.7: the connection broke; "+++" and silence until the host answers it.
    for chunk in SPLITS:
        x = Exchange([(b"data+++", b"\r\n#XDATAMODE: -104\r\n")], chunk)
        e = x.send()
        assert isinstance(e, OSError) and e.errno == ECONNRESET, (chunk, e)
        assert x.conn.closed and x.modem.state == LINE
        assert x.received() == b"data", chunk  # the "+++" was the signal, not data
        if chunk == 0:
            assert x.uplink() == b"", chunk  # seen before the first write: nothing streamed


def test_plus_plus_plus_then_more_downlink_is_data():
    # "+++" at the end of what has arrived looks like the modem's terminator: the sender stops
    # and sends its own. More downlink after it (or a clean exit) shows it was payload: the
    # send goes on in a new pass, every byte exactly once in both directions.
    check_clean([(b"ab+++", b"cd" + FAKE)], b"ab+++cd")
    check_clean([(b"ab+++", FAKE)], b"ab+++")
    check_clean([(b"++", b"+" + FAKE)], b"+++")
    check_clean([(b"ab+++", b"+++" + FAKE)], b"ab++++++")


def test_data_mode_parsing_allocates_nothing():
    # The receive path in data mode works per chunk with bytearray.find: no allocation for
    # raw data, held "+"/"+++" tails, copies of the exit line, or a decision that must wait.
    import time

    import micropython

    from slm_mpy import dmrx
    from slm_mpy.engine import DATAMODE, Engine

    class Port:
        def readinto(self, b):
            return None

        def write(self, b):
            return len(b)

    class Sink:
        def __init__(self):
            self.n = 0

        def feed(self, src, start, n):
            self.n += n
            return n

    e = Engine(Port())
    sink = Sink()
    cases = (
        # (host sent "+++", receive buffer contents, bytes handed on, dm_quit)
        (False, b"x" * 1500, 1500, False),
        (False, b"abc" + FAKE + b"def+", 23, False),
        (False, b"abc+++", 3, True),
        (True, b"abc" + FAKE + b"def" + FAKE, 23, False),
        (True, b"abc+++" + FAKE, 3, False),
        (True, b"abc\r\n#XDA", 3, False),
    )

    def parse_locked():
        ok = True
        micropython.heap_lock()
        try:
            for _ in range(4):
                if not dmrx.parse(e):
                    break
        except MemoryError:
            ok = False
        micropython.heap_unlock()
        return ok

    for exiting, data, handed, quit in cases:
        e.rxbuf[0 : len(data)] = data
        e.head = 0
        e.tail = len(data)
        e.state = DATAMODE
        e.dm_sink = sink
        e.dm_exiting = exiting
        e.dm_quit = False
        e._dm_fresh = False
        e._quiet_since = time.ticks_add(time.ticks_ms(), 60000)  # bytes still coming: no quiet
        sink.n = 0
        assert parse_locked(), data
        assert sink.n == handed and e.head == handed and e.dm_quit == quit, (data, sink.n, e.dm_quit)
        assert e.state == DATAMODE and e.dm_result is None
