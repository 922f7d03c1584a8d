"""TCP proxy fidelity (§2.1-2.3 and the seed's #XTCP* exchanges), both profiles,
against real loopback peers."""
from __future__ import annotations

import os
import socket
import struct

import pytest

from test_sim_support import (ERROR, OK, FWS, Host, make_sim, normalise,  # noqa: F401
                              peers, wait_for)


@pytest.fixture(params=FWS)
def fw(request):
    return request.param


def tcp_port(peers) -> int:
    return int(peers.env["SLM_ECHO_TCP_PORT"])


def connect(host: Host, port: int, addr: str = "127.0.0.1", op: int = 1) -> bytes:
    return host.at(f'AT#XTCPCLI={op},"{addr}",{port}')


class OnePeer:
    """A network peer under the test's control: listens, accepts one connection."""

    def __init__(self, family: int = socket.AF_INET) -> None:
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
        self.listener.listen(1)
        self.listener.settimeout(3)
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> socket.socket:
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(3)
        return self.conn

    def close(self) -> None:
        if self.conn:
            self.conn.close()
        self.listener.close()


@pytest.fixture()
def one_peer():
    peer = OnePeer()
    yield peer
    peer.close()


def read_tcpdata(host: Host, total: int) -> bytes:
    """Collect back-to-back #XTCPDATA chunks (each <= 2048) until ``total`` bytes arrived."""
    lines, payload = host.collect(total)
    assert lines == b""
    assert len(payload) == total
    return payload


# -- seed exchanges -------------------------------------------------------------

def test_seed_client_connect_send_receive(make_sim, peers, fw):
    host = make_sim.host(fw=fw)
    # Seed: AT#XTCPCLI=1,"remote.ip",1234 -> #XTCPCLI: 2,"connected" / OK
    reply = connect(host, tcp_port(peers))
    assert normalise(reply) == normalise(b'\r\n#XTCPCLI: 2,"connected"\r\n\r\nOK\r\n')
    assert reply == b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n'  # first free fd is 0
    # Seed: AT#XTCPSEND="Test TLS client" -> #XTCPSEND: 15 / OK; the echo comes back
    # as "#XTCPDATA: <size>" + exactly <size> raw bytes (possibly before the OK).
    assert host.at_data('AT#XTCPSEND="Test TLS client"', 15) == (
        b"\r\n#XTCPSEND: 15\r\n\r\nOK\r\n", b"Test TLS client")
    assert host.at("AT#XTCPCLI?") == b"\r\n#XTCPCLI: 0,1\r\n\r\nOK\r\n"


def test_client_test_string_per_profile(make_sim, fw):
    host = make_sim.host(fw=fw, attached=False)
    seed = b"#XTCPCLI: (0,1,2),<url>,<port>,<sec_tag>,<peer_verify>,<hostname_verify>"
    tail = b",<cid>" if fw == "3.1" else b""
    assert host.at("AT#XTCPCLI=?") == b"\r\n" + seed + tail + b"\r\n\r\nOK\r\n"


def test_server_and_hangup_test_strings(make_sim, fw):
    host = make_sim.host(fw=fw, attached=False)
    assert host.at("AT#XTCPSVR=?") == b"\r\n#XTCPSVR: (0,1,2),<port>,<sec_tag>\r\n\r\nOK\r\n"
    # The seed documents "AT#TCPHANGUP=?" (typo); the command is #XTCPHANGUP.
    assert host.at("AT#XTCPHANGUP=?") == b"\r\n#XTCPHANGUP: <handle>\r\n\r\nOK\r\n"
    assert host.at("AT#TCPHANGUP=?") == ERROR
    assert host.at("AT#XTCPHANGUP?") == ERROR
    assert host.at("AT#XTCPSEND?") == ERROR
    assert host.at("AT#XTCPSEND=?") == ERROR


def test_seed_server_session(make_sim, fw):
    host = make_sim.host(fw=fw)
    # Seed: AT#XTCPSVR=1,3442,600 -> #XTCPSVR: 2,"started" / OK (sec_tag: modelled as plain TCP)
    reply = host.at("AT#XTCPSVR=1,0,600")
    assert normalise(reply) == normalise(b'\r\n#XTCPSVR: 2,"started"\r\n\r\nOK\r\n')
    assert host.sim.last_params["sec_tag"] == 600
    port = host.sim.modem.tcp.local_port
    peer_fd = 2 if fw == "3.1" else 1  # 3.1: listen 0, eventfd 1, peer 2
    assert host.at("AT#XTCPSVR?") == b"\r\n#XTCPSVR: 0,-1,1\r\n\r\nOK\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=3) as peer:
        host.expect(b'\r\n#XTCPSVR: "127.0.0.1","connected"\r\n')
        assert host.at("AT#XTCPSVR?") == b"\r\n#XTCPSVR: 0,%d,1\r\n\r\nOK\r\n" % peer_fd
        peer.sendall(b"hello\r\nOK\r\n")
        host.expect(b"\r\n#XTCPDATA: 11\r\nhello\r\nOK\r\n")
        assert host.at('AT#XTCPSEND="to the peer"') == b"\r\n#XTCPSEND: 11\r\n\r\nOK\r\n"
        assert peer.recv(100) == b"to the peer"
        # Seed: AT#XTCPHANGUP=2 -> #XTCPSVR: 0,"disconnected" / OK
        assert host.at(f"AT#XTCPHANGUP={peer_fd}") == b'\r\n#XTCPSVR: 0,"disconnected"\r\n' + OK
        assert peer.recv(100) == b""
    assert host.at("AT#XTCPSVR?") == b"\r\n#XTCPSVR: 0,-1,1\r\n\r\nOK\r\n"
    # A peer that closes by itself: "#XTCPSVR: 0,"disconnected"" as an URC.
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        host.expect(b'\r\n#XTCPSVR: "127.0.0.1","connected"\r\n')
    host.expect(b'\r\n#XTCPSVR: 0,"disconnected"\r\n')
    assert host.at("AT#XTCPSVR=0") == b'\r\n#XTCPSVR: 0,"stopped"\r\n' + OK
    assert host.at("AT#XTCPSVR?") == b"\r\n#XTCPSVR: -1,-1,1\r\n\r\nOK\r\n"


def test_server_read_when_idle(make_sim, fw):
    host = make_sim.host(fw=fw, attached=False)
    assert host.at("AT#XTCPSVR?") == b"\r\n#XTCPSVR: -1,-1,0\r\n\r\nOK\r\n"
    assert host.at("AT#XTCPCLI?") == b"\r\n#XTCPCLI: -1,0\r\n\r\nOK\r\n"


def test_server_stop_with_peer_reports_disconnect_then_stopped(make_sim):
    host = make_sim.host()
    assert host.at("AT#XTCPSVR=1,0") == b'\r\n#XTCPSVR: 0,"started"\r\n' + OK
    with socket.create_connection(("127.0.0.1", host.sim.modem.tcp.local_port), timeout=3) as peer:
        host.expect(b'\r\n#XTCPSVR: "127.0.0.1","connected"\r\n')
        assert host.at("AT#XTCPSVR=0") == (b'\r\n#XTCPSVR: 0,"disconnected"\r\n'
                                           b'\r\n#XTCPSVR: 0,"stopped"\r\n' + OK)
        assert peer.recv(10) == b""


def test_server_accepts_only_one_peer(make_sim):
    host = make_sim.host()
    assert host.at("AT#XTCPSVR=1,0") == b'\r\n#XTCPSVR: 0,"started"\r\n' + OK
    port = host.sim.modem.tcp.local_port
    with socket.create_connection(("127.0.0.1", port), timeout=3) as first:
        host.expect(b'\r\n#XTCPSVR: "127.0.0.1","connected"\r\n')
        with socket.create_connection(("127.0.0.1", port), timeout=3) as second:
            assert second.recv(10) == b""  # accepted, then closed ("Full")
        first.sendall(b"still here")
        host.expect(b"\r\n#XTCPDATA: 10\r\nstill here")
    host.expect(b'\r\n#XTCPSVR: 0,"disconnected"\r\n')


def test_server_port_in_use(make_sim):
    host = make_sim.host()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert host.at(f"AT#XTCPSVR=1,{port}") == b'\r\n#XTCPSVR: -112,"not started"\r\n' + ERROR
    assert host.at("AT#XTCPSVR?") == b"\r\n#XTCPSVR: -1,-1,1\r\n\r\nOK\r\n"


def test_server_ipv6(make_sim):
    host = make_sim.host()
    assert host.at("AT#XTCPSVR=2,0") == b'\r\n#XTCPSVR: 0,"started"\r\n' + OK
    with socket.create_connection(("::1", host.sim.modem.tcp.local_port), timeout=3) as peer:
        host.expect(b'\r\n#XTCPSVR: "::1","connected"\r\n')
        assert host.at("AT#XTCPSVR?") == b"\r\n#XTCPSVR: 0,2,2\r\n\r\nOK\r\n"
        peer.sendall(b"v6")
        host.expect(b"\r\n#XTCPDATA: 2\r\nv6")


# -- client ------------------------------------------------------------------------

def test_client_disconnect_urc_precedes_ok(make_sim, peers, fw):
    host = make_sim.host(fw=fw)
    assert connect(host, tcp_port(peers)) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    assert host.at("AT#XTCPCLI=0") == b'\r\n#XTCPCLI: 0,"disconnected"\r\n' + OK
    assert host.at("AT#XTCPCLI?") == b"\r\n#XTCPCLI: -1,1\r\n\r\nOK\r\n"
    assert host.at("AT#XTCPCLI=0") == OK  # nothing open: just OK


def test_client_refused_and_dns_errors(make_sim, fw):
    host = make_sim.host(fw=fw)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connection refused
        assert connect(host, port) == b'\r\n#XTCPCLI: -111,"not connected"\r\n' + ERROR
    assert host.at('AT#XTCPCLI=1,"nowhere.invalid",80') == (
        b'\r\n#XTCPCLI: -2,"not connected"\r\n' + ERROR)
    # An IPv6 literal with op 1 (IPv4): the resolver rejects the family.
    assert host.at('AT#XTCPCLI=1,"::1",80') == b'\r\n#XTCPCLI: -9,"not connected"\r\n' + ERROR
    # The failed attempts released their handles: the next socket is fd 0 again.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        assert connect(host, listener.getsockname()[1]) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK


def test_client_not_attached(make_sim, fw):
    host = make_sim.host(fw=fw, attached=False)
    assert host.at('AT#XTCPCLI=1,"127.0.0.1",80') == b'\r\n#XTCPCLI: -114,"not connected"\r\n' + ERROR
    assert host.at('AT#XTCPCLI=1,"localhost",80') == b'\r\n#XTCPCLI: -3,"not connected"\r\n' + ERROR
    assert host.at("AT#XTCPSVR=1,0") == b'\r\n#XTCPSVR: -114,"not started"\r\n' + ERROR


def test_client_ipv6(make_sim, peers):
    host = make_sim.host()
    port6 = int(peers.env["SLM_ECHO_TCP6_PORT"])
    assert host.at(f'AT#XTCPCLI=2,"::1",{port6}') == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    assert host.at("AT#XTCPCLI?") == b"\r\n#XTCPCLI: 0,2\r\n\r\nOK\r\n"
    assert host.at_data('AT#XTCPSEND="v6 echo"', 7) == (b"\r\n#XTCPSEND: 7\r\n\r\nOK\r\n",
                                                        b"v6 echo")
    assert host.at("AT#XTCPCLI=0") == b'\r\n#XTCPCLI: 0,"disconnected"\r\n' + OK
    # "localhost" with op 2 resolves to ::1.
    assert host.at(f'AT#XTCPCLI=2,"localhost",{port6}') == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK


def test_single_proxy_rule(make_sim, peers, fw):
    host = make_sim.host(fw=fw)
    assert connect(host, tcp_port(peers)) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    assert connect(host, tcp_port(peers)) == ERROR
    assert host.at("AT#XTCPSVR=1,0") == ERROR
    assert host.at("AT#XTCPCLI=0") == b'\r\n#XTCPCLI: 0,"disconnected"\r\n' + OK
    assert host.at("AT#XTCPSVR=1,0") == b'\r\n#XTCPSVR: 0,"started"\r\n' + OK
    assert connect(host, tcp_port(peers)) == ERROR


def test_handles_shared_with_udp(make_sim, peers, fw):
    host = make_sim.host(fw=fw)
    assert connect(host, tcp_port(peers)) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    udp_fd = 2 if fw == "3.1" else 1  # 3.1: the TCP thread's eventfd holds fd 1
    reply = host.at(f'AT#XUDPCLI=1,"127.0.0.1",{peers.env["SLM_ECHO_UDP_PORT"]}')
    assert reply == b'\r\n#XUDPCLI: %d,"connected"\r\n' % udp_fd + OK


def test_tcpdata_chunks_and_exact_bytes(make_sim, one_peer, fw):
    host = make_sim.host(fw=fw)
    assert connect(host, one_peer.port) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    conn = one_peer.accept()
    blob = os.urandom(9000) + b"\r\nOK\r\n\r\nERROR\r\n#XTCPDATA: 3\r\n\x00+++" + os.urandom(3000)
    conn.sendall(blob)
    assert read_tcpdata(host, len(blob)) == blob


def test_peer_close_reports_data_first_then_104(make_sim, one_peer, fw):
    host = make_sim.host(fw=fw)
    assert connect(host, one_peer.port) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    conn = one_peer.accept()
    conn.sendall(b"last words")
    conn.close()
    host.expect(b"\r\n#XTCPDATA: 10\r\nlast words")
    host.expect(b'\r\n#XTCPCLI: -104,"disconnected"\r\n')
    assert host.at("AT#XTCPCLI?") == b"\r\n#XTCPCLI: -1,1\r\n\r\nOK\r\n"


def test_reconnect_after_remote_close(make_sim, peers, one_peer, fw):
    host = make_sim.host(fw=fw)
    assert connect(host, one_peer.port) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    one_peer.accept().close()
    host.expect(b'\r\n#XTCPCLI: -104,"disconnected"\r\n')
    if fw == "3.1":
        # The proxy's eventfd outlives the remote close: AT#XTCPCLI=0 first (§2.1).
        assert connect(host, tcp_port(peers)) == ERROR
        assert host.at("AT#XTCPCLI=0") == OK
    assert connect(host, tcp_port(peers)) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK


def test_tcpsend_limits_and_errors(make_sim, peers, fw):
    host = make_sim.host(fw=fw)
    assert host.at('AT#XTCPSEND="x"') == ERROR  # not connected
    assert connect(host, tcp_port(peers)) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    assert host.at('AT#XTCPSEND="' + "a" * 1025 + '"') == ERROR
    assert host.at_data('AT#XTCPSEND="' + "b" * 1024 + '"', 1024) == (
        b"\r\n#XTCPSEND: 1024\r\n\r\nOK\r\n", b"b" * 1024)
    # Quoted strings are taken verbatim, commas included.
    assert host.at_data('AT#XTCPSEND="a,b, c"', 6) == (b"\r\n#XTCPSEND: 6\r\n\r\nOK\r\n",
                                                       b"a,b, c")
    assert host.at("AT#XTCPSEND=123") == ERROR  # data must be a string
    if fw == "3.1":
        assert host.at_data('AT#XTCPSEND="f",512', 1) == (b"\r\n#XTCPSEND: 1\r\n\r\nOK\r\n",
                                                          b"f")
    else:
        # 2.6: an empty string is just zero bytes of data, not data mode.
        assert host.at('AT#XTCPSEND=""') == b"\r\n#XTCPSEND: 0\r\n\r\nOK\r\n"


def test_tls_parameters_validated_and_visible(make_sim, peers, fw):
    host = make_sim.host(fw=fw)
    port = tcp_port(peers)
    assert host.at(f'AT#XTCPCLI=1,"127.0.0.1",{port},42,3') == ERROR
    assert host.at(f'AT#XTCPCLI=1,"127.0.0.1",{port},42,1,2') == ERROR
    assert host.at(f'AT#XTCPCLI=1,"127.0.0.1",{port},-5') == ERROR
    reply = host.at(f'AT#XTCPCLI=1,"127.0.0.1",{port},42,1,0')
    assert reply == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    params = host.sim.last_params
    assert (params["sec_tag"], params["peer_verify"], params["hostname_verify"]) == (42, 1, 0)
    assert params["tls"] is True
    assert host.at("AT#XTCPCLI=0") == b'\r\n#XTCPCLI: 0,"disconnected"\r\n' + OK
    if fw == "3.1":
        reply = host.at(f'AT#XTCPCLI=1,"127.0.0.1",{port},,,,0')
        assert reply == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
        assert host.sim.last_params["cid"] == 0
        assert host.sim.last_params["tls"] is False


def test_hangup_errors(make_sim, peers):
    host = make_sim.host()
    assert host.at("AT#XTCPHANGUP=0") == ERROR  # no server
    assert connect(host, tcp_port(peers)) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    assert host.at("AT#XTCPHANGUP=0") == ERROR  # client role


def test_control_peer_close(make_sim, peers):
    host = make_sim.host()
    assert connect(host, tcp_port(peers)) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    assert host.sim.control("peer-close") == "ok"
    host.expect(b'\r\n#XTCPCLI: -104,"disconnected"\r\n')
    assert host.sim.control("peer-close").startswith("error")


def test_reboot_drops_proxies(make_sim, peers):
    host = make_sim.host()
    assert connect(host, tcp_port(peers)) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    host.send("AT#XRESET\r\n")
    host.expect(OK + b"Ready\r\n")
    assert host.drain() == b""  # no disconnect URC: the device just rebooted
    assert host.at("AT#XTCPCLI?") == b"\r\n#XTCPCLI: -1,0\r\n\r\nOK\r\n"
    wait_for(lambda: host.sim.modem.handles.snapshot() == {}, what="handles freed")


def test_control_peer_close_on_server(make_sim):
    host = make_sim.host()
    assert host.at("AT#XTCPSVR=1,0") == b'\r\n#XTCPSVR: 0,"started"\r\n' + OK
    with socket.create_connection(("127.0.0.1", host.sim.modem.tcp.local_port), timeout=3) as peer:
        host.expect(b'\r\n#XTCPSVR: "127.0.0.1","connected"\r\n')
        peer.sendall(b"pending")
        host.expect(b"\r\n#XTCPDATA: 7\r\npending")
        assert host.sim.control("peer-close") == "ok"
        host.expect(b'\r\n#XTCPSVR: 0,"disconnected"\r\n')
        assert peer.recv(10) == b""
    assert host.at("AT#XTCPSVR?") == b"\r\n#XTCPSVR: 0,-1,1\r\n\r\nOK\r\n"


def test_server_peer_reset_reports_the_errno(make_sim):
    host = make_sim.host()
    assert host.at("AT#XTCPSVR=1,0") == b'\r\n#XTCPSVR: 0,"started"\r\n' + OK
    peer = socket.create_connection(("127.0.0.1", host.sim.modem.tcp.local_port), timeout=3)
    host.expect(b'\r\n#XTCPSVR: "127.0.0.1","connected"\r\n')
    # SO_LINGER 0: close() sends RST, so the modem's recv() fails with ECONNRESET.
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()
    host.expect(b'\r\n#XTCPSVR: -104,"disconnected"\r\n')


def test_client_peer_reset_is_104(make_sim, one_peer):
    host = make_sim.host()
    assert connect(host, one_peer.port) == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
    conn = one_peer.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    one_peer.conn = None
    host.expect(b'\r\n#XTCPCLI: -104,"disconnected"\r\n')
