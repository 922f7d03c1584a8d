# slm_sim: --fw 3.1 --baud 0
# slm_sim: --fw 2.6 --baud 0
# slm_sim: --fw 3.1 --baud 0 --fragment --interleave-urcs
# timeout: 120
"""slm_mpy.socket against slm_sim: the MicroPython socket API over SLM's proxies."""

import json

import simlink

import slm_mpy.socket as sock
from slm_mpy.errors import EAGAIN, EBADF, EBUSY, EHOSTUNREACH, ETIMEDOUT


def raises(errno, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        assert e.errno == errno, "errno %r, expected %r (%r)" % (e.errno, errno, e)
        return e
    raise AssertionError("no OSError(%d)" % errno)


def echo_tcp():
    return ("127.0.0.1", simlink.env_port("SLM_ECHO_TCP_PORT"))


def echo_udp():
    return ("127.0.0.1", simlink.env_port("SLM_ECHO_UDP_PORT"))


def status():
    reply = simlink.control("status")
    assert reply.startswith("ok "), reply
    return json.loads(reply[3:])


def test_getaddrinfo_through_the_modem():
    m = simlink.modem()
    sock.set_interface(None)  # the latest SLM
    ai = sock.getaddrinfo("localhost", 1883)
    assert ai == [(sock.AF_INET, sock.SOCK_STREAM, sock.IPPROTO_TCP, "", ("127.0.0.1", 1883))], ai
    ai = sock.getaddrinfo("localhost", 53, sock.AF_INET6, sock.SOCK_DGRAM)
    assert ai == [(sock.AF_INET6, sock.SOCK_DGRAM, sock.IPPROTO_UDP, "", ("::1", 53))], ai
    raises(EHOSTUNREACH, sock.getaddrinfo, "no-such-host.invalid", 80)
    # IP literals need no lookup: the modem is not asked.
    m.resolve = None
    assert sock.getaddrinfo("192.0.2.7", 80)[0][-1] == ("192.0.2.7", 80)
    assert sock.getaddrinfo("::1", 80, sock.AF_INET6)[0][-1] == ("::1", 80)


def test_tcp_stream_semantics():
    simlink.modem()
    s = sock.socket()
    s.connect(sock.getaddrinfo(*echo_tcp())[0][-1])
    # write with a length, read exactly n (the echo arrives in pieces)
    assert s.write(b"hello worldXXXX", 11) == 11
    got = s.read(11)
    assert got == b"hello world", got
    s.sendall(b"line one\nline two\npartial")
    assert s.readline() == b"line one\n"
    assert s.readline() == b"line two\n"
    buf = bytearray(7)
    assert s.readinto(buf) == 7 and buf == b"partial"
    # binary with data-mode terminators in it round-trips
    blob = bytes(range(256)) * 4 + b"+++" + b"\r\nOK\r\n" + b"++"
    assert s.send(blob) == len(blob)
    got = s.read(len(blob))
    assert got == blob, (len(got), [i for i in range(len(got)) if got[i] != blob[i]][:5], got[-40:])
    # recv returns what is there (at least one byte)
    s.write(b"abc")
    got = b""
    while len(got) < 3:
        got += s.recv(100)
    assert got == b"abc"
    # non-blocking: read/readinto/readline return None, recv raises EAGAIN
    s.setblocking(False)
    assert s.read(1) is None
    assert s.readinto(bytearray(4)) is None
    assert s.readline() is None
    raises(EAGAIN, s.recv, 10)
    s.write(b"nb")
    got = None
    for _ in range(400):
        got = s.read(2)
        if got is not None:
            break
        simlink.pause(sock._modem(), 5)
    assert got in (b"nb", b"n"), got  # what was there
    # timeouts raise ETIMEDOUT; data that arrived in time is returned
    s.settimeout(0.5)
    if len(got) < 2:
        assert s.read(1) == b"b"
    raises(ETIMEDOUT, s.read, 1)
    raises(ETIMEDOUT, s.recv, 1)
    s.write(b"xy")
    assert s.read(5) == b"xy"  # two arrived, the rest timed out
    s.settimeout(None)
    assert s.makefile("rwb") is s
    s.close()
    s.close()  # twice is fine
    raises(EBADF, s.read, 1)
    raises(EBADF, s.send, b"x")


def test_peer_close_ends_the_stream():
    simlink.modem()
    with sock.socket() as s:
        s.connect(echo_tcp())
        s.write(b"bye")
        assert s.read(3) == b"bye"
        assert simlink.control("peer-close") == "ok"
        assert s.read(10) == b""  # end of stream, not a hang
        assert s.recv(10) == b""
        assert s.readline() == b""


def test_one_tcp_and_one_udp_socket_at_a_time():
    simlink.modem()
    a = sock.socket()
    a.connect(echo_tcp())
    u = sock.socket(sock.AF_INET, sock.SOCK_DGRAM)
    u.connect(echo_udp())  # the UDP proxy is separate: both work together
    b = sock.socket()
    e = raises(EBUSY, b.connect, echo_tcp())
    assert "one TCP" in str(e), e
    u2 = sock.socket(sock.AF_INET, sock.SOCK_DGRAM)
    raises(EBUSY, u2.connect, echo_udp())
    a.write(b"still fine")
    assert a.read(10) == b"still fine"
    a.close()
    b.connect(echo_tcp())  # the slot is free again
    b.write(b"second")
    assert b.read(6) == b"second"
    b.close()
    u.close()
    u2.connect(echo_udp())
    u2.close()


def test_udp_datagrams():
    simlink.modem()
    with sock.socket(sock.AF_INET, sock.SOCK_DGRAM) as u:
        u.settimeout(2)
        addr = echo_udp()
        assert u.sendto(b"ping 1", addr) == 6
        data, frm = u.recvfrom(100)
        assert data == b"ping 1"
        assert frm is None or frm == addr, frm  # NCS < 2.8 does not say who sent it
        u.send(b"\x00\x01binary\xff")
        assert u.recv(100) == b"\x00\x01binary\xff"
        u.send(b"0123456789")
        assert u.recv(4) == b"0123"  # cut to the size asked for, like a real socket
        u.send(b"again")
        assert u.read(100) == b"again"
        buf = bytearray(3)
        u.send(b"xyz!")
        assert u.readinto(buf) == 3 and buf == b"xyz"
        u.setblocking(False)
        raises(EAGAIN, u.recv, 10)
        assert u.read(10) is None
        u.settimeout(0.2)
        raises(ETIMEDOUT, u.recv, 10)


def test_tls_sec_tag_reaches_the_modem():
    simlink.modem()
    # The simulator has no TLS peer, but it records what the modem was asked to do.
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM, sec_tag=42, peer_verify=1)
    s.connect(echo_tcp())
    p = status()["last_params"]
    assert p["sec_tag"] == 42 and p["peer_verify"] == 1 and p["tls"], p
    s.close()
    # wrap_socket right after connect (umqtt.simple's ssl=True does this): reconnect with TLS
    s = sock.socket()
    s.connect(echo_tcp())
    assert not status()["last_params"]["tls"]
    assert sock.wrap_socket(s, 7, server_hostname="localhost") is s
    p = status()["last_params"]
    assert p["tls"] and p["sec_tag"] == 7 and p["url"] == "localhost", p
    s.write(b"tls?")
    assert s.read(4) == b"tls?"
    try:
        sock.wrap_socket(s, 8)
    except OSError:
        pass
    else:
        raise AssertionError("TLS switched on after data was exchanged")
    s.close()


def test_set_interface_picks_the_modem():
    first = simlink.modem()
    second = simlink.modem()  # the latest SLM is the default...
    sock.set_interface(first)  # ...unless one is chosen
    with sock.socket() as s:
        s.connect(echo_tcp())
        assert first.tcp is not None and second.tcp is None
    sock.set_interface(None)
    with sock.socket() as s:
        s.connect(echo_tcp())
        assert second.tcp is not None and first.tcp is None
