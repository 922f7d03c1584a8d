"""Data mode (§4): entry OK, inactivity flush, the "+++" matcher, UDP datagrams,
downlink in data mode, URC suppression and the drop state of both profiles."""
from __future__ import annotations

import os
import socket
import time

import pytest

from test_sim_support import OK, FWS, Host, make_sim, peers, wait_for  # noqa: F401

DATAMODE_0 = b"\r\n#XDATAMODE: 0\r\n"


@pytest.fixture(params=FWS)
def fw(request):
    return request.param


class TcpPeer:
    """A TCP server the modem connects to; the test reads what the modem sends."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(3)
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket

    def accept(self) -> None:
        self.conn, _ = self.listener.accept()

    def recv_exact(self, count: int, timeout: float = 3.0) -> bytes:
        out = bytearray()
        deadline = time.monotonic() + timeout
        while len(out) < count:
            self.conn.settimeout(max(0.001, deadline - time.monotonic()))
            chunk = self.conn.recv(count - len(out))
            assert chunk, f"peer closed after {bytes(out)!r}"
            out += chunk
        return bytes(out)

    def nothing_within(self, seconds: float) -> bool:
        self.conn.settimeout(seconds)
        try:
            data = self.conn.recv(100)
        except socket.timeout:
            return True
        raise AssertionError(f"unexpected data {data!r}")

    def close(self) -> None:
        if hasattr(self, "conn"):
            self.conn.close()
        self.listener.close()


@pytest.fixture()
def tcp_peer():
    peer = TcpPeer()
    yield peer
    peer.close()


@pytest.fixture()
def udp_peer():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(3)
    yield sock
    sock.close()


def enter_tcp_datamode(host: Host, peer: TcpPeer, time_limit: int | None = None) -> None:
    reply = host.at(f'AT#XTCPCLI=1,"127.0.0.1",{peer.port}')
    assert reply == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    peer.accept()
    if time_limit is not None:
        assert host.at(f"AT#XDATACTRL={time_limit}") == OK
    # §4.1: plain OK, no prompt.
    assert host.at("AT#XTCPSEND") == OK


def send_chunk(host: Host, data: bytes) -> None:
    """Send ``data`` and wait until the modem has taken it as one UART chunk."""
    modem = host.sim.modem
    before = modem.rx_bytes
    host.send(data)
    wait_for(lambda: modem.rx_bytes >= before + len(data), what="chunk received")


def test_entry_ok_and_terminator_exit(make_sim, tcp_peer, fw):
    host = make_sim.host(fw=fw)
    enter_tcp_datamode(host, tcp_peer)
    host.send("hello, world+++")
    assert tcp_peer.recv_exact(12) == b"hello, world"
    host.expect(DATAMODE_0)
    assert host.at("AT") == OK


def test_empty_string_enters_datamode_on_31(make_sim, tcp_peer):
    host = make_sim.host()
    assert host.at(f'AT#XTCPCLI=1,"127.0.0.1",{tcp_peer.port}').endswith(OK)
    tcp_peer.accept()
    assert host.at('AT#XTCPSEND=""') == OK
    host.send("x+++")
    assert tcp_peer.recv_exact(1) == b"x"
    host.expect(DATAMODE_0)
    # Entering again while in data mode is impossible; a command is data there.
    assert host.at("AT#XTCPSEND=") == OK
    host.send("AT#XTCPSEND\r\n+++")
    assert tcp_peer.recv_exact(13) == b"AT#XTCPSEND\r\n"
    host.expect(DATAMODE_0)


def test_inactivity_timer_flushes_and_restarts_per_chunk(make_sim, tcp_peer):
    host = make_sim.host()
    enter_tcp_datamode(host, tcp_peer, time_limit=300)
    send_chunk(host, b"a")
    assert tcp_peer.nothing_within(0.15)
    send_chunk(host, b"b")   # restarts the 300 ms timer
    assert tcp_peer.nothing_within(0.2)
    started = time.monotonic()
    assert tcp_peer.recv_exact(2, timeout=2) == b"ab"  # one flush with both chunks
    assert time.monotonic() - started < 1.0
    host.send("+++")
    host.expect(DATAMODE_0)


def test_terminator_split_across_chunks(make_sim, tcp_peer, fw):
    host = make_sim.host(fw=fw)
    enter_tcp_datamode(host, tcp_peer, time_limit=2000)
    send_chunk(host, b"data+")
    send_chunk(host, b"+")
    send_chunk(host, b"+")
    assert tcp_peer.recv_exact(4) == b"data"
    host.expect(DATAMODE_0)


def test_partial_terminator_flushed_as_data_by_the_timer(make_sim, tcp_peer):
    host = make_sim.host()
    enter_tcp_datamode(host, tcp_peer, time_limit=50)
    send_chunk(host, b"xy++")
    assert tcp_peer.recv_exact(4) == b"xy++"  # the held "++" went out with the flush
    # A partial match followed by other bytes is data as well.
    send_chunk(host, b"+")
    send_chunk(host, b"z")
    assert tcp_peer.recv_exact(2) == b"+z"
    host.send("+++")
    host.expect(DATAMODE_0)


def test_held_partial_alone_waits_for_more_bytes(make_sim, tcp_peer):
    # Like the firmware's timer handler: an empty buffer is not flushed, so a
    # lone "++" stays held until the next byte decides what it is.
    host = make_sim.host()
    enter_tcp_datamode(host, tcp_peer, time_limit=30)
    send_chunk(host, b"++")
    assert tcp_peer.nothing_within(0.2)
    send_chunk(host, b"a")
    assert tcp_peer.recv_exact(3) == b"++a"
    host.send("+++")
    host.expect(DATAMODE_0)


def test_bytes_after_terminator_are_a_command(make_sim, tcp_peer, fw):
    host = make_sim.host(fw=fw)
    enter_tcp_datamode(host, tcp_peer, time_limit=2000)
    host.send("tail+++AT+CFUN?\r\n")
    assert tcp_peer.recv_exact(4) == b"tail"
    host.expect(DATAMODE_0 + b"\r\n+CFUN: 1\r\n\r\nOK\r\n")


def test_buffer_full_flushes_without_waiting_for_the_timer(make_sim, tcp_peer):
    host = make_sim.host()
    enter_tcp_datamode(host, tcp_peer, time_limit=10000)
    blob = os.urandom(9000).replace(b"+", b"-")
    host.send(blob)
    # Two full 4096-byte buffers go out long before the 10 s timer.
    assert tcp_peer.recv_exact(8192, timeout=3) == blob[:8192]
    host.send("+++")
    assert tcp_peer.recv_exact(len(blob) - 8192) == blob[8192:]
    host.expect(DATAMODE_0)


def test_downlink_is_raw_in_datamode(make_sim, tcp_peer, fw):
    host = make_sim.host(fw=fw)
    enter_tcp_datamode(host, tcp_peer)
    tcp_peer.conn.sendall(b"raw\r\nOK\r\ndown")
    host.expect(b"raw\r\nOK\r\ndown")
    host.send("+++")
    host.expect(DATAMODE_0)
    tcp_peer.conn.sendall(b"after")
    host.expect(b"\r\n#XTCPDATA: 5\r\nafter")


def test_bulk_echo_through_datamode(make_sim, peers):
    host = make_sim.host()
    reply = host.at(f'AT#XTCPCLI=1,"127.0.0.1",{peers.env["SLM_ECHO_TCP_PORT"]}')
    assert reply == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    assert host.at("AT#XTCPSEND") == OK
    blob = os.urandom(30000).replace(b"+", b"=")
    host.send(blob)
    assert host.read_exact(len(blob), timeout=10) == blob
    host.send("+++")
    host.expect(DATAMODE_0)


def test_modem_urcs_dropped_in_datamode(make_sim, tcp_peer):
    host = make_sim.host()
    assert host.at("AT+CEREG=1") == OK
    enter_tcp_datamode(host, tcp_peer)
    assert host.sim.control("cereg 2") == "ok"
    wait_for(lambda: host.sim.modem.network.stat == 2, what="stat changed")
    assert host.drain(quiet=0.1) == b""
    host.send("+++")
    host.expect(DATAMODE_0)
    assert host.drain(quiet=0.1) == b""  # dropped, not queued
    assert host.sim.control("cereg 1") == "ok"
    host.expect(b"\r\n+CEREG: 1\r\n")


def test_udp_one_datagram_per_flush(make_sim, udp_peer, fw):
    host = make_sim.host(fw=fw)
    port = udp_peer.getsockname()[1]
    assert host.at(f'AT#XUDPCLI=1,"127.0.0.1",{port}') == b'\r\n#XUDPCLI: 0,"connected"\r\n' + OK
    assert host.at("AT#XDATACTRL=50") == OK
    assert host.at("AT#XUDPSEND") == OK
    host.send("first datagram")
    assert udp_peer.recvfrom(5000)[0] == b"first datagram"
    big = os.urandom(4096).replace(b"+", b"*")
    host.send(big)  # exactly one buffer: still one datagram
    assert udp_peer.recvfrom(5000)[0] == big
    host.send("last+++")
    assert udp_peer.recvfrom(5000)[0] == b"last"
    host.expect(DATAMODE_0)


def test_udp_downlink_raw_in_datamode(make_sim, udp_peer):
    host = make_sim.host()
    port = udp_peer.getsockname()[1]
    assert host.at(f'AT#XUDPCLI=1,"127.0.0.1",{port}') == b'\r\n#XUDPCLI: 0,"connected"\r\n' + OK
    assert host.at("AT#XUDPSEND") == OK
    host.send("hi")
    data, addr = udp_peer.recvfrom(100)
    udp_peer.sendto(b"back", addr)
    host.expect(b"back")
    host.send("+++")
    host.expect(DATAMODE_0)


def test_udp_overflow_enters_drop_state(make_sim, udp_peer, fw):
    host = make_sim.host(fw=fw)
    port = udp_peer.getsockname()[1]
    assert host.at(f'AT#XUDPCLI=1,"127.0.0.1",{port}') == b'\r\n#XUDPCLI: 0,"connected"\r\n' + OK
    assert host.at("AT#XDATACTRL=2000") == OK
    assert host.at("AT#XUDPSEND") == OK
    host.send(b"u" * 5000)  # more than one 4096-byte buffer: not one datagram
    if fw == "3.1":
        host.expect(b"+++")
    wait_for(lambda: host.sim.modem.datamode.mode.value == "drop", what="drop state")
    host.send("AT\r\n")  # dropped like everything else
    assert host.drain(quiet=0.1) == b""
    host.send("+++")
    host.expect(b"\r\n#XDATAMODE: -139\r\n")
    assert host.at("AT") == OK
    udp_peer.settimeout(0.1)
    with pytest.raises(socket.timeout):
        udp_peer.recvfrom(10000)


def test_connection_lost_in_datamode(make_sim, tcp_peer, fw):
    host = make_sim.host(fw=fw)
    enter_tcp_datamode(host, tcp_peer)
    tcp_peer.conn.sendall(b"bye")
    tcp_peer.conn.close()
    host.expect(b"bye")
    if fw == "3.1":
        host.expect(b"+++")  # 2.7+: tell the host the pipe broke
    else:
        wait_for(lambda: host.sim.modem.datamode.mode.value == "drop", what="drop state")
        assert host.drain(quiet=0.1) == b""  # 2.6: silent
    host.send("still streaming, dropped")
    host.send("+++")
    # The stored error, and no "#XTCPCLI: ...,"disconnected"" URC in this path.
    host.expect(b"\r\n#XDATAMODE: -104\r\n")
    assert host.drain(quiet=0.1) == b""
    assert host.at("AT#XTCPCLI?") == b"\r\n#XTCPCLI: -1,1\r\n\r\nOK\r\n"


def test_server_peer_hangup_in_datamode(make_sim):
    host = make_sim.host()
    assert host.at("AT#XTCPSVR=1,0") == b'\r\n#XTCPSVR: 0,"started"\r\n' + OK
    peer = socket.create_connection(("127.0.0.1", host.sim.modem.tcp.local_port), timeout=3)
    host.expect(b'\r\n#XTCPSVR: "127.0.0.1","connected"\r\n')
    assert host.at("AT#XTCPSEND") == OK
    host.send("to peer")
    assert peer.recv(100) == b"to peer"
    peer.close()
    host.expect(b"+++")
    host.send("+++")
    host.expect(b"\r\n#XDATAMODE: 0\r\n")  # a clean hang-up is result 0
    assert host.at("AT#XTCPSVR?") == b"\r\n#XTCPSVR: 0,-1,1\r\n\r\nOK\r\n"


def test_datamode_default_time_limit_is_the_minimum(make_sim, tcp_peer):
    host = make_sim.host()
    enter_tcp_datamode(host, tcp_peer)
    host.send("+++")
    host.expect(DATAMODE_0)
    assert host.at("AT#XDATACTRL?") == b"\r\n#XDATACTRL: 12,12\r\n\r\nOK\r\n"


def test_downlink_framing_stays_consistent_across_mode_changes(make_sim, tcp_peer):
    # The peer streams while the host enters and leaves data mode: data before the
    # entry OK and after "#XDATAMODE" is framed, data in between is raw, and all of
    # it arrives in order.
    host = make_sim.host()
    assert host.at(f'AT#XTCPCLI=1,"127.0.0.1",{tcp_peer.port}').endswith(OK)
    tcp_peer.accept()
    stream = b"".join(b"<%06d>" % i for i in range(3000))  # 24000 bytes, no CR/LF/'+'
    import threading

    def produce() -> None:
        for start in range(0, len(stream), 200):
            tcp_peer.conn.sendall(stream[start:start + 200])
            time.sleep(0.002)

    writer = threading.Thread(target=produce, daemon=True)
    writer.start()
    _, first = host.collect(1000)                       # framed: command mode
    host.send("AT#XTCPSEND\r\n")
    lines, before = host.collect(0, want_final=True)   # frames only, up to the OK
    assert lines == OK
    raw = host.read_exact(2000)                          # raw: data mode
    host.send("+++")
    raw += host.read_until(DATAMODE_0)[:-len(DATAMODE_0)]
    writer.join(10)
    before = first + before
    lines, after = host.collect(len(stream) - len(before) - len(raw))
    assert lines == b""
    assert before + raw + after == stream
    assert before and after
