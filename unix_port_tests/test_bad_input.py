"""Bad input from the application (issue 8), on a scripted UART.

Each misuse gets a clear error -- ValueError for a bad argument (before anything reaches
the UART), OSError for a call the state does not allow -- and the modem stays usable.
Extends test_engine.py (command injection, EBUSY from a callback) and test_sim_tcp_udp.py
(host, port and TLS-knob ranges) without repeating them.
"""

import time

from mockuart import MockUART, ok_responder

from slm_mpy import SLM

EBUSY = 16
ENOTCONN = 107
EMSGSIZE = 90
ETIMEDOUT = 110

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

    def sent(self, command):
        return self.uart.commands.count(command)

    def in_callback(self, fn, *args):
        # Call fn(*args) inside a URC callback (poll() is running); returns its result or error.
        out = []

        def cb(line):
            try:
                out.append(fn(*args))
            except Exception as e:
                out.append(e)

        self.m.on("+CEREG", cb)
        self.uart.feed(b"\r\n+CEREG: 1\r\n")
        self.m.poll()
        self.m.on("+CEREG", None)
        assert len(out) == 1, "the callback did not run"
        return out[0]


def busy_at_once(r, fn, *args):
    # fn(*args) (given 1000 ms to wait, if it waits) is refused with EBUSY inside a callback,
    # well before that.
    start = time.ticks_ms()
    e = r.in_callback(fn, *args)
    took = time.ticks_diff(time.ticks_ms(), start)
    assert isinstance(e, OSError) and e.errno == EBUSY, e
    assert took < 100, "EBUSY after %d ms" % took


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


def test_wrong_argument_types_raise_valueerror():
    r = Rig()
    c = r.m.tcp_client("h", 1)
    mark = r.mark()
    raises(ValueError, r.m.at, None)
    raises(ValueError, r.m.at, 123)
    raises(ValueError, c.send, None)
    raises(ValueError, c.send, 123)
    raises(ValueError, c.send, [1, 2])
    raises(ValueError, c.recv, -1)
    raises(ValueError, c.recv_into, b"immutable")
    raises(ValueError, c.recv, 10, timeout_ms="soon")
    assert r.mark() == mark
    r.usable()


def test_receive_from_a_urc_callback_is_refused_at_once():
    # Inside a callback the engine cannot poll, so a receive can only wait in vain for its
    # whole timeout. It should say EBUSY at once, like a command does.
    r = Rig()
    c = r.m.tcp_client("h", 1)
    result = []

    def cb(line):
        start = time.ticks_ms()
        for call in (lambda: c.recv(10, timeout_ms=1000), lambda: r.m.wait_ready(1000)):
            try:
                call()
                result.append("returned")
            except OSError as e:
                result.append((e.errno, time.ticks_diff(time.ticks_ms(), start) < 100))

    r.m.on("+CEREG", cb)
    r.uart.feed(b"\r\n+CEREG: 1\r\n")
    r.m.poll()
    assert result == [(EBUSY, True), (EBUSY, True)], result


def test_close_refused_in_a_callback_can_be_repeated():
    # close() from a callback is refused (EBUSY). It must not mark the connection released:
    # else the close outside the callback does nothing and the modem's proxy stays open (the
    # next connect would get ERROR from a real SLM).
    r = Rig()
    c = r.m.tcp_client("h", 1)

    def cb(line):
        e = raises(OSError, c.close)
        assert e.errno == EBUSY

    r.m.on("+CEREG", cb)
    r.uart.feed(b"\r\n+CEREG: 1\r\n")
    r.m.poll()
    r.m.on("+CEREG", None)
    c.close()
    assert r.closed_tcp == 1, "AT#XTCPCLI=0 was never sent"


def test_a_refused_close_leaves_the_connection_as_it_was():
    r = Rig()
    c = r.m.tcp_client("h", 1)
    busy_at_once(r, c.close)
    assert not c.closed and r.m.tcp is c
    # Still the modem's TCP proxy: data and the peer's close reach it, a send goes out.
    r.uart.feed(b"\r\n#XTCPDATA: 3\r\nabc")
    assert c.recv(10, timeout_ms=200) == b"abc"
    assert c.send(b"more") == 4
    assert raises(OSError, r.m.tcp_client, "h", 1).errno == EBUSY  # it holds SLM's TCP proxy
    r.uart.feed(b'\r\n#XTCPCLI: 0,"disconnected"\r\n')
    assert c.recv(10, timeout_ms=200) == b"" and c.closed
    # Closed by the peer but not released: the next connect closes it first.
    c2 = r.m.tcp_client("h", 1)
    assert r.closed_tcp == 1 and not c2.closed


def test_receives_in_a_callback_that_need_no_wait_still_work():
    # Only a receive that would wait is refused: queued data, a zero timeout and a closed
    # connection answer as they do outside a callback; so does wait_ready in the callback
    # for the "Ready" banner it waits for.
    r = Rig()
    c = r.m.tcp_client("h", 1)
    r.uart.feed(b"\r\n#XTCPDATA: 3\r\nabc")
    r.m.poll()
    assert r.in_callback(c.recv, 10, 1000) == b"abc"
    e = r.in_callback(c.recv, 10, 0)
    assert isinstance(e, OSError) and e.errno == ETIMEDOUT, e
    r.uart.feed(b'\r\n#XTCPCLI: 0,"disconnected"\r\n')
    r.m.poll()
    assert r.in_callback(c.recv, 10, 1000) == b""
    seen = []
    r.m.on("Ready", lambda line: seen.append(r.m.wait_ready(1000)))
    r.uart.feed(b"\r\nReady\r\n")
    r.m.poll()
    assert seen == [None]


def test_bad_timeouts_rejected_before_the_uart():
    # A timeout that is no int in 0..2**30-1 used to reach the engine after the command was
    # written: the TypeError left that command pending and every later one failed (EBUSY).
    r = Rig()
    c = r.m.tcp_client("h", 1)
    u = r.m.udp_client("h", 7)
    mark = r.mark()
    for t in ("soon", 1.5, -1, True, 2**40):
        raises(ValueError, r.m.at, "AT", t)
        raises(ValueError, r.m.wait_ready, t)
        for conn in (c, u):
            raises(ValueError, conn.send, b"x", t)
            raises(ValueError, conn.recv, 10, t)
            raises(ValueError, conn.recv_into, bytearray(10), t)
    assert r.mark() == mark
    c.close()
    u.close()
    mark = r.mark()
    raises(ValueError, r.m.tcp_client, "h", 1, timeout_ms="soon")
    raises(ValueError, r.m.udp_client, "h", 7, timeout_ms=-5)
    raises(ValueError, r.m.tcp_server, 3442, timeout_ms=0.5)
    raises(ValueError, r.m.udp_server, 5683, timeout_ms="soon")
    assert r.mark() == mark and r.m.tcp is None and r.m.udp is None
    assert r.m.at("AT", 0x3FFFFFFF) == []  # the largest accepted


def test_send_takes_bytes_like_data_and_str():
    from array import array

    r = Rig()
    c = r.m.tcp_client("h", 1)
    for data in (b"abc", bytearray(b"abc"), memoryview(b"xabcx")[1:4], "abc", array("B", b"abc")):
        mark = r.mark()
        assert c.send(data) == 3
        assert r.uart.written_since(mark) == b'AT#XTCPSEND="abc"\r\n'
    mark = r.mark()
    for data in (None, 3, 3.0, [97], (97,), {"a": 1}, object()):
        raises(ValueError, c.send, data)
    assert r.mark() == mark
    assert c.send(b"") == 0 and c.send("") == 0


def test_receive_buffers_and_sizes():
    r = Rig()
    c = r.m.tcp_client("h", 1)
    r.uart.feed(b"\r\n#XTCPDATA: 3\r\nabc")
    for bad in (b"immutable", "str", None, 5, (1, 2), memoryview(b"read-only")):
        raises(ValueError, c.recv_into, bad)  # refused with data queued as well
    for n in (-1, 1.5, "10", None, True, 2**40):
        raises(ValueError, c.recv, n)
    assert c.recv_into(bytearray(0)) == 0  # an empty buffer is no error
    buf = bytearray(2)
    assert c.recv_into(memoryview(buf)) == 2 and buf == b"ab"  # nothing lost to the refusals
    assert c.recv(0, timeout_ms=0) == b""
    assert c.recv(10) == b"c"


def test_uart_and_buffer_sizes_checked():
    # A receive buffer too small to hold a line would leave poll() reading nothing, and a
    # queue too small would stall every frame: both are refused when they are made.
    for size in (0, 255, -1, "2560", 2.5, None, True):
        raises(ValueError, SLM, MockUART(), rx_size=size)
    for uart in (None, 5, "/dev/ttyACM0", b"x", bytearray(8)):
        raises(ValueError, SLM, uart)  # not a UART: said at once, not at the first poll()
    assert len(SLM(MockUART(), rx_size=256).rxbuf) == 256
    r = Rig()
    mark = r.mark()
    for size in (0, 63, -1, "2048", None):
        raises(ValueError, r.m.tcp_client, "h", 1, rx_size=size)
        raises(ValueError, r.m.tcp_server, 3442, rx_size=size)
        raises(ValueError, r.m.udp_client, "h", 7, rx_size=size)
        raises(ValueError, r.m.udp_server, 7, rx_size=size)
    assert r.mark() == mark and r.m.tcp is None and r.m.udp is None
    c = r.m.tcp_client("h", 1, rx_size=64)
    r.uart.feed(b"\r\n#XTCPDATA: 100\r\n" + bytes(range(100)))
    got = b""
    while len(got) < 100:
        got += c.recv(100, timeout_ms=500)  # a small queue slows nothing down to a stall
    assert got == bytes(range(100))
    r.usable()


def test_smallest_buffers_carry_the_largest_frames():
    # The receive buffer need not hold a frame, only a line: payload streams through it.
    for chunk in (0, 1, -1):  # the UART hands out all it has, single bytes, random pieces
        _small_buffers(chunk)


def _small_buffers(chunk):
    def respond(mock, line):
        if line.startswith(b"AT#XTCPCLI=1"):
            mock.feed(b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n')
        else:
            ok_responder(mock, line)

    uart = MockUART(respond, chunk=chunk, seed=3)
    uart.feed(b"Ready\r\n")
    m = SLM(uart, rx_size=256)
    m.wait_ready(1000)
    c = m.tcp_client("h", 1, rx_size=64)
    seen = []
    m.on("+CEREG", seen.append)
    payload = bytes(range(256)) * 8
    uart.feed(b"\r\n#XTCPDATA: 2048\r\n" + payload + b"\r\n+CEREG: 1\r\n\r\n#XTCPDATA: 5\r\nhello")
    got = bytearray()
    buf = bytearray(100)
    while len(got) < 2053:
        n = c.recv_into(buf, timeout_ms=500)
        got += buf[:n]
    assert bytes(got) == payload + b"hello" and seen == ["+CEREG: 1"]
    assert m.overlong_lines == 0 and m.garbage_lines == 0


def test_urc_subscriptions_checked():
    r = Rig()
    seen = []
    for prefix in ("+CEREG:", "+CEREG: 1", 5, None, b"+CEREG", "a\nb"):
        raises(ValueError, r.m.on, prefix, seen.append)
    for cb in ("print", 5, b"x"):
        raises(ValueError, r.m.on, "+CEREG", cb)
    r.m.on("+CEREG", seen.append)
    r.m.on("", seen.append)  # everything nobody else handles
    r.uart.feed(b"\r\n+CEREG: 5\r\n\r\n%XTIME: 1\r\n")
    for _ in range(10):
        r.m.poll()  # no command pending: %XTIME goes to the catch-all, not into a reply
    assert seen == ["+CEREG: 5", "%XTIME: 1"], seen
    r.usable()


def test_udp_bad_arguments_and_callbacks():
    r = Rig()
    u = r.m.udp_client("h", 7)
    mark = r.mark()
    for fn, arg in ((u.recvfrom, -1), (u.recv, "10"), (u.recv_into, b"x"), (u.recv_into, None), (u.send, None), (u.send, [1])):
        raises(ValueError, fn, arg)
    assert r.mark() == mark
    busy_at_once(r, u.recvfrom, 10, 1000)
    busy_at_once(r, u.recv_into, bytearray(10), 1000)
    busy_at_once(r, u.close)
    assert not u.closed and r.m.udp is u
    r.uart.feed(b"\r\n#XUDPDATA: 4\r\nping")
    assert u.recv(10, timeout_ms=200) == b"ping"  # still the modem's UDP proxy
    u.close()
    assert r.sent(b"AT#XUDPCLI=0") == 1 and u.closed and r.m.udp is None


def test_tcp_server_bad_arguments_and_callbacks():
    r = Rig()
    srv = r.m.tcp_server(3442)
    mark = r.mark()
    for fn, arg in ((srv.accept, "soon"), (srv.accept, -1), (srv.recv, -1), (srv.recv_into, b"x")):
        raises(ValueError, fn, arg)
    assert r.mark() == mark
    busy_at_once(r, srv.accept, 1000)
    r.uart.feed(b'\r\n#XTCPSVR: "192.0.2.9","connected"\r\n')
    assert srv.accept(200) == "192.0.2.9"
    busy_at_once(r, srv.recv, 10, 1000)
    busy_at_once(r, srv.close)
    assert srv.listening
    srv.close()
    assert r.sent(b"AT#XTCPSVR=0") == 1 and not srv.listening and r.m.tcp is None


def test_socket_wrapper_bad_arguments_and_callbacks():
    import slm_mpy.socket as sock

    r = Rig()
    sock.set_interface(r.m)
    s = sock.socket()
    mark = r.mark()
    for fn, arg in ((s.connect, (None, 1)), (s.connect, (b"h", 1)), (s.connect, ("h", "1")), (s.settimeout, -1), (s.settimeout, "1")):
        raises(ValueError, fn, arg)
    assert r.mark() == mark and r.m.tcp is None
    s.connect(("h", 1))
    u = sock.socket(sock.AF_INET, sock.SOCK_DGRAM)
    u.connect(("h", 7))
    # Blocking sockets: a wait would never end, so each refusal must come before it.
    mark = r.mark()
    for fn, arg in ((s.recv, -1), (s.recvfrom, -1), (s.readinto, b"x"), (s.readinto, None), (s.send, None), (s.write, [1]), (u.recv, -1), (u.readinto, b"x")):
        raises(ValueError, fn, arg)
    assert r.mark() == mark
    busy_at_once(r, s.recv, 10)
    busy_at_once(r, s.readinto, bytearray(4))
    busy_at_once(r, u.recvfrom, 10)
    busy_at_once(r, s.close)
    assert s.send(b"still open") == 10
    s.close()
    assert r.closed_tcp == 1 and raises(OSError, s.send, b"x").errno == 9  # EBADF
    s.close()
    u.close()
    assert r.closed_tcp == 1 and r.sent(b"AT#XUDPCLI=0") == 1
    sock.set_interface(None)
