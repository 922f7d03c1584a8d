"""Bad input from the application (issue 8), on a scripted UART.

Each misuse gets a clear error -- ValueError for a bad argument (before anything reaches
the UART), OSError for a call the state does not allow -- and the modem stays usable.
Extends test_engine.py (command injection, EBUSY from a callback) and test_sim_tcp_udp.py
(host, port and TLS-knob ranges) without repeating them.
"""

from mockuart import MockUART, ok_responder

from slm_mpy import SLM

EBUSY = 16
ENOTCONN = 107
EMSGSIZE = 90

TCP_OPEN = b'AT#XTCPCLI=1,"h",1'
UDP_OPEN = b'AT#XUDPCLI=1,"h",7'


def raises(exc_type, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc_type as e:
        return e
    except Exception as e:
        raise AssertionError("%s raised %r, not %s" % (getattr(fn, "__name__", fn), e, exc_type.__name__))
    raise AssertionError("%s not raised" % exc_type.__name__)


class Rig:
    def __init__(self):
        self.uart = MockUART(self.respond)
        self.uart.feed(b"Ready\r\n")
        self.m = SLM(self.uart)
        self.m.wait_ready(1000)
        self.closed_tcp = 0

    def respond(self, mock, line):
        if line.startswith(b"AT#XTCPCLI=1"):
            mock.feed(b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n')
        elif line.startswith(b"AT#XUDPCLI=1"):
            mock.feed(b'\r\n#XUDPCLI: 1,"connected"\r\n\r\nOK\r\n')
        elif line.startswith(b"AT#XTCPSVR=1"):
            mock.feed(b'\r\n#XTCPSVR: 0,"started"\r\n\r\nOK\r\n')
        elif line == b"AT#XTCPCLI=0":
            self.closed_tcp += 1
            mock.feed(b'\r\n#XTCPCLI: 0,"disconnected"\r\n\r\nOK\r\n')
        elif line.startswith(b'AT#XTCPSEND="'):
            mock.feed(b"\r\n#XTCPSEND: %d\r\n\r\nOK\r\n" % (len(line) - 14))
        elif line == b"AT#XDATACTRL?":
            mock.feed(b"\r\n#XDATACTRL: 0,12\r\n\r\nOK\r\n")
        else:
            ok_responder(mock, line)

    def mark(self):
        return len(self.uart.tx)

    def usable(self):
        assert self.m.at("AT") == []


def test_bad_hosts_rejected_before_the_uart():
    r = Rig()
    mark = r.mark()
    for host in ("h\x00st", "tab\there", "h\xe9llo", "\x7f", 'x"', "a\rb", "x" * 200):
        raises(ValueError, r.m.tcp_client, host, 80)
        raises(ValueError, r.m.udp_client, host, 7)
        raises(ValueError, r.m.resolve, host)
    assert r.mark() == mark
    assert r.m.tcp is None and r.m.udp is None
    r.usable()


def test_bad_ports_and_tags_rejected_before_the_uart():
    r = Rig()
    mark = r.mark()
    for port in (True, 80.0, None, -80, 70000, 2**40):
        raises(ValueError, r.m.tcp_client, "h", port)
        raises(ValueError, r.m.udp_client, "h", port)
        raises(ValueError, r.m.tcp_server, port)
        raises(ValueError, r.m.udp_server, port)
    for tag in (-1, 2**31, "1", 1.5, True):
        raises(ValueError, r.m.tcp_client, "h", 443, sec_tag=tag)
        raises(ValueError, r.m.udp_client, "h", 443, sec_tag=tag)
        raises(ValueError, r.m.tcp_server, 443, sec_tag=tag)
    raises(ValueError, r.m.udp_client, "h", 443, sec_tag=1, use_dtls_cid=3)
    raises(ValueError, r.m.resolve, "h", family=3)
    assert r.mark() == mark
    r.usable()


def test_commands_that_are_not_one_command():
    r = Rig()
    mark = r.mark()
    for cmd in ("AT\r", "\r\nAT", 'AT+X="a"b"', "AT+X=" + "1" * 4095, "A", "ATE0\nATE1"):
        raises(ValueError, r.m.at, cmd)
    for name in ("#XTCPCLI\r\n", "XTCPCLI", "#X TCP", "", '#X"'):
        raises(ValueError, r.m.syntax, name)
    assert r.mark() == mark
    # A quoted CR/LF is data (PEM certificates): it reaches the modem as one command.
    assert r.m.at('AT%CMNG=0,1,0,"A\r\nB"') == []
    r.usable()


def test_oversized_payloads():
    r = Rig()
    u = r.m.udp_client("h", 7)
    mark = r.mark()
    e = raises(OSError, u.send, b"\x00" * 4097)  # more than SLM's data-mode buffer
    assert e.errno == EMSGSIZE
    e = raises(OSError, u.send, b"a" * 5000)  # text too, once it is past the string limit
    assert e.errno == EMSGSIZE
    assert r.mark() == mark
    r.usable()
    assert not u.closed


def test_calls_on_a_closed_connection():
    r = Rig()
    c = r.m.tcp_client("h", 1)
    c.close()
    c.close()  # twice: nothing more is sent
    assert r.closed_tcp == 1
    mark = r.mark()
    assert raises(OSError, c.send, b"x").errno == ENOTCONN
    assert raises(OSError, c.send, "text").errno == ENOTCONN
    assert c.recv(10, timeout_ms=10) == b""
    assert c.recv_into(bytearray(10), timeout_ms=10) == 0
    assert r.mark() == mark
    u = r.m.udp_client("h", 7)
    u.close()
    assert raises(OSError, u.send, b"x").errno == ENOTCONN
    assert u.recvfrom(10, timeout_ms=10) == (b"", None)
    with r.m.tcp_client("h", 1) as c2:
        pass
    assert raises(OSError, c2.send, b"x").errno == ENOTCONN
    r.usable()


def test_a_closed_connection_never_reads_its_successor_data():
    r = Rig()
    old = r.m.tcp_client("h", 1)
    old.close()
    new = r.m.tcp_client("h", 1)
    r.uart.feed(b"\r\n#XTCPDATA: 5\r\nfresh")
    assert old.recv(10, timeout_ms=50) == b""
    assert new.recv(10, timeout_ms=200) == b"fresh"


def test_commands_from_a_urc_callback_are_refused_cleanly():
    r = Rig()
    c = r.m.tcp_client("h", 1)
    outcomes = []

    def cb(line):
        for name, call in (
            ("at", lambda: r.m.at("AT+CFUN?")),
            ("udp_client", lambda: r.m.udp_client("h", 7)),
            ("send", lambda: c.send(b"from a callback")),
            ("send binary", lambda: c.send(b"\x00\x01")),
            ("resolve", lambda: r.m.resolve("example.com")),
        ):
            try:
                call()
                outcomes.append((name, "returned"))
            except OSError as e:
                outcomes.append((name, e.errno))

    r.m.on("+CEREG", cb)
    mark = r.mark()
    r.uart.feed(b"\r\n+CEREG: 1\r\n")
    r.m.poll()
    assert outcomes == [("at", EBUSY), ("udp_client", EBUSY), ("send", EBUSY), ("send binary", EBUSY), ("resolve", EBUSY)], outcomes
    assert r.mark() == mark, "a refused call wrote to the UART"
    assert r.m.udp is None  # the refused open left nothing registered
    # Outside the callback everything works.
    r.usable()
    assert c.send(b"later") == 5
    u = r.m.udp_client("h", 7)
    assert not u.closed


def test_an_exception_in_a_callback_leaves_the_modem_usable():
    r = Rig()
    c = r.m.tcp_client("h", 1)
    seen = []

    def cb(line):
        seen.append(line)
        if len(seen) == 1:
            raise RuntimeError("application bug")

    r.m.on("+CEREG", cb)
    r.uart.feed(b"\r\n+CEREG: 2\r\n\r\n#XTCPDATA: 3\r\nabc\r\n+CEREG: 1\r\n")
    try:
        for _ in range(10):
            r.m.poll()
    except RuntimeError:
        pass  # the application's own exception comes back to it
    for _ in range(10):
        r.m.poll()
    assert seen == ["+CEREG: 2", "+CEREG: 1"]
    assert c.recv(10, timeout_ms=100) == b"abc"
    r.usable()


def test_callbacks_that_poll_or_change_subscriptions():
    r = Rig()
    seen = []

    def first(line):
        seen.append(("first", line))
        assert r.m.poll() is False  # re-entered: a no-op
        r.m.on("+CEREG", second)  # replace itself
        r.m.on("%XNEW", seen.append)

    def second(line):
        seen.append(("second", line))
        r.m.on("+CEREG", None)

    r.m.on("+CEREG", first)
    r.uart.feed(b"\r\n+CEREG: 1\r\n\r\n+CEREG: 2\r\n\r\n%XNEW: x\r\n\r\n+CEREG: 3\r\n")
    for _ in range(10):
        r.m.poll()
    assert seen == [("first", "+CEREG: 1"), ("second", "+CEREG: 2"), "%XNEW: x"], seen
    r.usable()
