# slm_sim: --fw 3.1 --baud 0
# slm_sim: --fw 2.6 --baud 0
# slm_sim: --fw 3.1 --baud 0 --fragment --interleave-urcs
# slm_sim: --fw 2.6 --baud 0 --fragment --interleave-urcs
# timeout: 300
"""TCP and UDP through slm_sim with real loopback peers, under the unix port.

Every function runs against both firmware profiles, plain and with fragmented output and
URCs interleaved between information lines and their OK.
"""

import hashlib
import os
import socket
import time

from simlink import PatternStream, env_port, modem, open_socket, pause

from slm_mpy import ATError


def raises(exc_type, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc_type as e:
        return e
    raise AssertionError("%s not raised" % exc_type.__name__)


def fragmented():
    # The fragmenting profiles are slower; scale the bulk transfers, not the checks.
    return os.getenv("SLM_SIM_ARGS", "").find("--fragment") >= 0


def recv_exactly(c, n):
    got = b""
    while len(got) < n:
        chunk = c.recv(n - len(got), timeout_ms=5000)
        assert chunk, "closed after %r" % got
        got += chunk
    return got


def echo_stream(c, total_kib, seed, window_kib=3):
    """Send ``total_kib`` KiB through an echo connection, read it back, compare SHA-256.

    At most ``window_kib`` are in flight: what comes back while a send runs must fit the
    driver's receive buffers (ring + the connection's rx_size), as nobody reads meanwhile.
    """
    gen = PatternStream(seed)
    block = bytearray(1024)
    sent_hash = hashlib.sha256()
    got_hash = hashlib.sha256()
    buf = bytearray(2048)
    sent = got = 0
    total = total_kib * 1024
    while got < total:
        # Keep at most window_kib in flight: the echo comes back while we send.
        if sent < total and sent - got < window_kib * 1024:
            gen.block(sent // 1024, block)
            sent_hash.update(block)
            assert c.send(block) == 1024
            sent += 1024
            continue
        n = c.recv_into(buf, timeout_ms=10000)
        assert n > 0, "connection closed after %d of %d bytes" % (got, total)
        got_hash.update(memoryview(buf)[:n])
        got += n
    assert got == total
    assert sent_hash.digest() == got_hash.digest(), "echoed data differs"


def test_tcp_client_echo_binary_with_protocol_lookalikes():
    m = modem()
    with m.tcp_client("127.0.0.1", env_port("SLM_ECHO_TCP_PORT"), rx_size=4096) as c:
        assert c.handle >= 0
        assert m.tcp_client_status()[0] == c.handle
        echo_stream(c, 128 if fragmented() else 1024, seed=1)
        # Short text goes as a quoted string, and comes back intact too.
        assert c.send(b"hello, SLM") == 10
        assert recv_exactly(c, 10) == b"hello, SLM"
    assert m.tcp_client_status()[0] < 0
    assert m.at("AT") == []


def test_tcp_client_ipv6():
    m = modem()
    c = m.tcp_client("::1", env_port("SLM_ECHO_TCP6_PORT"), ipv6=True, rx_size=4096)
    assert m.tcp_client_status()[1] == 2  # AF_INET6
    echo_stream(c, 32, seed=2)
    c.close()


def test_tcp_connect_refused_is_econnrefused():
    m = modem()
    s = socket.socket()
    s.bind(socket.getaddrinfo("127.0.0.1", 0)[0][-1])  # a port nobody listens on... maybe
    s.close()
    e = raises(OSError, m.tcp_client, "127.0.0.1", 1)
    assert e.errno == 111, e
    assert m.tcp is None
    e = raises(OSError, m.tcp_client, "no-such-host.invalid", 80)
    assert e.errno == 113 and "resolve" in str(e), e


def test_single_tcp_proxy_rule_before_the_modem_is_asked():
    m = modem()
    c = m.tcp_client("127.0.0.1", env_port("SLM_ECHO_TCP_PORT"))
    mark = m.transport.uart  # the simulator socket
    e = raises(OSError, m.tcp_server, 4000)
    assert e.errno == 16 and "one TCP proxy" in str(e)
    e = raises(OSError, m.tcp_client, "127.0.0.1", env_port("SLM_ECHO_TCP_PORT"))
    assert e.errno == 16
    assert mark is m.transport.uart
    c.send(b"still works")
    assert recv_exactly(c, 11) == b"still works"
    c.close()


def _listener():
    # MicroPython sockets cannot report their port: try a few until bind works.
    s = socket.socket()
    for port in range(43000 + (time.ticks_ms() % 5000), 49000, 7):
        try:
            s.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            s.listen(1)
            return s, port
        except OSError:
            pass
    raise AssertionError("no free port")


def _accept(server, m):
    server.setblocking(False)
    for _ in range(2000):
        try:
            conn, _ = server.accept()
            conn.setblocking(False)
            return conn
        except OSError:
            pause(m, 2)
    raise AssertionError("modem did not connect")


def _write_all(sock, data, m):
    mv = memoryview(data)
    off = 0
    while off < len(data):
        n = sock.write(mv[off:])
        if n:
            off += n
        else:
            pause(m, 1)


def test_remote_close_mid_transfer_then_reconnect():
    m = modem()
    server, port = _listener()
    c = m.tcp_client("127.0.0.1", port)
    peer = _accept(server, m)
    payload = bytes(range(256)) * 40  # 10 KiB
    _write_all(peer, payload, m)
    peer.close()  # closes while the data is still on its way through the modem
    # Everything sent before the close is readable; then b"" and the error code.
    got = 0
    while True:
        chunk = c.recv(1500, timeout_ms=10000)
        if not chunk:
            break
        assert chunk == payload[got : got + len(chunk)], got
        got += len(chunk)
    assert got == len(payload)
    assert c.closed and c.error is not None
    raises(OSError, c.send, b"x")
    # Reconnect on the same modem: works on every firmware profile.
    c2 = m.tcp_client("127.0.0.1", port)
    peer2 = _accept(server, m)
    c2.send(b"again")
    for _ in range(500):
        try:
            data = peer2.read(5)
        except OSError:
            data = None
        if data:
            break
        pause(m, 2)
    assert data == b"again"
    c2.close()
    peer2.close()
    server.close()


def test_tcp_server_accept_echo_hangup():
    m = modem()
    port = 42000 + time.ticks_ms() % 3000
    # The peer keeps up to 9 KiB in flight, and bytes that arrive while the server sends
    # wait in its queue: a queue smaller than that may fill during a send, which the driver
    # reports as ENOBUFS (README: keep what is in flight below rx_size). It did under load.
    srv = m.tcp_server(port, rx_size=16384)
    assert srv.listening and srv.handle >= 0
    assert m.tcp_server_status()[0] == srv.handle
    peer = open_socket(port)
    ip = srv.accept(timeout_ms=5000)
    assert ip == "127.0.0.1", ip
    total = (64 if fragmented() else 256) * 1024
    gen = PatternStream(3)
    block = bytearray(1024)
    sent = echoed = checked = 0
    h_sent = hashlib.sha256()
    h_back = hashlib.sha256()
    rbuf = bytearray(2048)
    while checked < total:
        if sent < total and sent - checked < 8192:
            gen.block(sent // 1024, block)
            _write_all(peer, block, m)
            h_sent.update(block)
            sent += 1024
        # The modem application echoes what it received.
        try:
            n = srv.recv_into(rbuf, timeout_ms=20)
        except OSError:
            n = 0
        if n:
            srv.send(memoryview(rbuf)[:n])
            echoed += n
        try:
            back = peer.read(4096)
        except OSError:
            back = None
        if back:
            h_back.update(back)
            checked += len(back)
    assert h_sent.digest() == h_back.digest()
    srv.hangup()
    pause(m, 100)
    assert srv.peer is None and srv.listening
    assert m.tcp_server_status()[1] < 0
    assert peer.read(10) in (b"", None)
    peer.close()
    srv.close()
    assert not srv.listening


def _datagram(i):
    # 1..1024 bytes; odd ones printable (string mode), even ones binary (data mode).
    n = 1 + (i * 7919) % 1024
    if i % 2:
        return bytes(32 + (i + k) % 95 for k in range(n) if (32 + (i + k) % 95) != 34)[:n] or b"x"
    d = hashlib.sha256(b"%d" % i).digest()
    out = (d * (n // 32 + 1))[:n]
    return out.replace(b"+++", b"+-+")


def test_udp_client_datagrams_intact_and_in_order():
    m = modem()
    u = m.udp_client("127.0.0.1", env_port("SLM_ECHO_UDP_PORT"))
    assert m.udp_client_status()[0] == u.handle
    count = 100 if fragmented() else 500
    for i in range(count):
        d = _datagram(i)
        assert u.send(d) == len(d)
        data, addr = u.recvfrom(2048, timeout_ms=5000)
        assert data == d, (i, len(data), len(d))
        assert addr is None or addr[1] == env_port("SLM_ECHO_UDP_PORT")
    # A binary datagram containing +++ cannot go through SLM's data mode: refused up front.
    raises(ValueError, u.send, b"\x00+++\x01")
    u.close()


def test_udp_server_replies_to_last_sender():
    m = modem()
    port = 45000 + time.ticks_ms() % 3000
    us = m.udp_server(port)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.setblocking(False)
    dest = socket.getaddrinfo("127.0.0.1", port)[0][-1]
    count = 100 if fragmented() else 500
    for i in range(count):
        d = _datagram(i)
        peer.sendto(d, dest)
        data, addr = us.recvfrom(2048, timeout_ms=5000)
        assert data == d, i
        assert addr is None or addr[0] == "127.0.0.1"
        us.send(data)
        for _ in range(1000):
            try:
                back = peer.recv(2048)
            except OSError:
                back = None
            if back:
                break
            pause(m, 1)
        assert back == d, i
    peer.close()
    us.close()


def test_udp_ipv6():
    m = modem()
    u = m.udp_client("::1", env_port("SLM_ECHO_UDP6_PORT"), ipv6=True)
    for i in range(20):
        d = _datagram(i)
        u.send(d)
        assert u.recv(2048, timeout_ms=5000) == d
    u.close()


def test_validation_before_the_uart():
    m = modem()
    for bad in ('a"b', "a\r\nAT", "", "x" * 129):
        raises(ValueError, m.tcp_client, bad, 80)
    for port in (-1, 65536, "80"):
        raises(ValueError, m.tcp_client, "h", port)
    raises(ValueError, m.tcp_client, "h", 80, sec_tag=1, peer_verify=3)
    raises(ValueError, m.tcp_client, "h", 80, sec_tag=1, hostname_verify=2)
    raises(ValueError, m.udp_client, "h", 80, use_dtls_cid=1)  # needs a sec_tag
    assert m.tcp is None and m.udp is None


def test_read_and_test_forms():
    m = modem()
    assert m.tcp_client_status()[0] < 0
    assert m.tcp_server_status()[:2] == (-1, -1)
    assert m.udp_client_status()[0] < 0
    assert m.udp_server_status()[0] < 0
    for name in ("#XTCPCLI", "#XTCPSVR", "#XUDPCLI", "#XUDPSVR", "#XTCPHANGUP"):
        lines = m.syntax(name)
        assert lines and lines[0].startswith(name.replace("X", "", 0)), lines
    raises(ATError, m.at, "AT#XTCPSEND=?")
