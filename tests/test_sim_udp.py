"""UDP proxy fidelity (§2.4 and the seed's #XUDP* exchanges), both profiles,
against real loopback peers."""
from __future__ import annotations

import socket

import pytest

from test_sim_support import ERROR, OK, FWS, make_sim, normalise, peers  # noqa: F401


@pytest.fixture(params=FWS)
def fw(request):
    return request.param


def udp_port(peers, v6: bool = False) -> int:
    return int(peers.env["SLM_ECHO_UDP6_PORT" if v6 else "SLM_ECHO_UDP_PORT"])


def data_header(fw: str, size: int, ip: str, port: int) -> bytes:
    if fw == "2.6":
        return b"\r\n#XUDPDATA: %d\r\n" % size
    return b'\r\n#XUDPDATA: %d,"%s",%d\r\n' % (size, ip.encode(), port)


def test_seed_client_exchange(make_sim, peers, fw):
    host = make_sim.host(fw=fw)
    port = udp_port(peers)
    # Seed: AT#XUDPCLI=1,"remote.host",2442 -> #XUDPCLI: 2,"connected" / OK
    reply = host.at(f'AT#XUDPCLI=1,"localhost",{port}')
    assert normalise(reply) == normalise(b'\r\n#XUDPCLI: 2,"connected"\r\n\r\nOK\r\n')
    assert reply == b'\r\n#XUDPCLI: 0,"connected"\r\n' + OK
    # Seed: AT#XUDPSEND="Test UDP by hostname" -> #XUDPSEND: 20 / OK
    lines, payload = host.at_data('AT#XUDPSEND="Test UDP by hostname"', 20)
    assert lines == b"\r\n#XUDPSEND: 20\r\n\r\nOK\r\n"
    assert payload == b"Test UDP by hostname"
    assert host.at("AT#XUDPCLI?") == b"\r\n#XUDPCLI: 0,1\r\n\r\nOK\r\n"
    assert host.at("AT#XUDPCLI=0") == b'\r\n#XUDPCLI: 0,"disconnected"\r\n' + OK
    assert host.at("AT#XUDPCLI?") == b"\r\n#XUDPCLI: -1,1\r\n\r\nOK\r\n"


def test_udpdata_format_per_profile(make_sim, fw):
    host = make_sim.host(fw=fw)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(3)
        port = server.getsockname()[1]
        reply = host.at(f'AT#XUDPCLI=1,"127.0.0.1",{port}')
        assert reply == b'\r\n#XUDPCLI: 0,"connected"\r\n' + OK
        assert host.at('AT#XUDPSEND="ping"') == b"\r\n#XUDPSEND: 4\r\n\r\nOK\r\n"
        data, client = server.recvfrom(100)
        assert data == b"ping"
        server.sendto(b"pong\r\nOK\r\n", client)
        host.expect(data_header(fw, 10, "127.0.0.1", port) + b"pong\r\nOK\r\n")


def test_test_strings(make_sim, fw):
    host = make_sim.host(fw=fw, attached=False)
    # The seed documents "(0,1,2),<port>" and "<tls_hostname_verify>"; the firmware
    # code prints the forms below (§2.4).
    assert host.at("AT#XUDPSVR=?") == b"\r\n#XUDPSVR: (0,1,2),<port>,<sec_tag>\r\n\r\nOK\r\n"
    assert host.at("AT#XUDPCLI=?") == (
        b"\r\n#XUDPCLI: (0,1,2),<url>,<port>,<sec_tag>,<use_dtls_cid>,<peer_verify>,"
        b"<hostname_verify>\r\n\r\nOK\r\n")
    assert host.at("AT#XUDPSEND=?") == ERROR
    assert host.at("AT#XUDPSEND?") == ERROR
    assert host.at("AT#XUDPSVR?") == b"\r\n#XUDPSVR: -1,0\r\n\r\nOK\r\n"


def test_seed_server_replies_to_last_sender(make_sim, fw):
    host = make_sim.host(fw=fw)
    # Seed: AT#XUDPSVR=1,3442 -> #XUDPSVR: 2,"started" / OK
    reply = host.at("AT#XUDPSVR=1,0")
    assert normalise(reply) == normalise(b'\r\n#XUDPSVR: 2,"started"\r\n\r\nOK\r\n')
    port = host.sim.modem.udp.local_port
    assert host.at("AT#XUDPSVR?") == b"\r\n#XUDPSVR: 0,1\r\n\r\nOK\r\n"
    assert host.at('AT#XUDPSEND="nobody yet"') == ERROR  # no sender to reply to
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
        a.settimeout(3)
        b.settimeout(3)
        a.sendto(b"from a", ("127.0.0.1", port))
        host.expect(data_header(fw, 6, "127.0.0.1", a.getsockname()[1]) + b"from a")
        b.sendto(b"from b!", ("127.0.0.1", port))
        host.expect(data_header(fw, 7, "127.0.0.1", b.getsockname()[1]) + b"from b!")
        assert host.at('AT#XUDPSEND="reply"') == b"\r\n#XUDPSEND: 5\r\n\r\nOK\r\n"
        assert b.recvfrom(100) == (b"reply", ("127.0.0.1", port))
    assert host.at("AT#XUDPSVR=0") == b'\r\n#XUDPSVR: 0,"stopped"\r\n' + OK


def test_server_start_failures_use_the_firmware_typo(make_sim, fw):
    host = make_sim.host(fw=fw)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        assert host.at(f"AT#XUDPSVR=1,{port}") == b'\r\n#UDPSVR: -112,"not started"\r\n' + ERROR
    # A DTLS server needs the native-TLS build: -ENOTSUP.
    assert host.at("AT#XUDPSVR=1,0,7") == b'\r\n#UDPSVR: -134,"not started"\r\n' + ERROR
    assert host.at("AT+CFUN=4") == OK
    assert host.at("AT#XUDPSVR=1,0") == b'\r\n#UDPSVR: -114,"not started"\r\n' + ERROR


def test_ipv6_client_and_server(make_sim, peers, fw):
    host = make_sim.host(fw=fw)
    port6 = udp_port(peers, v6=True)
    assert host.at(f'AT#XUDPCLI=2,"::1",{port6}') == b'\r\n#XUDPCLI: 0,"connected"\r\n' + OK
    assert host.at("AT#XUDPCLI?") == b"\r\n#XUDPCLI: 0,2\r\n\r\nOK\r\n"
    lines, payload = host.at_data('AT#XUDPSEND="six"', 3)
    assert (lines, payload) == (b"\r\n#XUDPSEND: 3\r\n\r\nOK\r\n", b"six")
    assert host.at("AT#XUDPCLI=0") == b'\r\n#XUDPCLI: 0,"disconnected"\r\n' + OK
    assert host.at("AT#XUDPSVR=2,0") == b'\r\n#XUDPSVR: 0,"started"\r\n' + OK
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as peer:
        peer.sendto(b"hi6", ("::1", host.sim.modem.udp.local_port))
        host.expect(data_header(fw, 3, "::1", peer.getsockname()[1]) + b"hi6")
        assert host.at('AT#XUDPSEND="re6"') == b"\r\n#XUDPSEND: 3\r\n\r\nOK\r\n"
        peer.settimeout(3)
        assert peer.recvfrom(100)[0] == b"re6"


def test_single_udp_proxy_and_send_without_socket(make_sim, peers, fw):
    host = make_sim.host(fw=fw)
    assert host.at('AT#XUDPSEND="x"') == ERROR
    assert host.at("AT#XUDPSEND") == ERROR  # data mode needs a socket too
    port = udp_port(peers)
    assert host.at(f'AT#XUDPCLI=1,"127.0.0.1",{port}') == b'\r\n#XUDPCLI: 0,"connected"\r\n' + OK
    assert host.at(f'AT#XUDPCLI=1,"127.0.0.1",{port}') == ERROR
    assert host.at("AT#XUDPSVR=1,0") == ERROR
    assert host.at('AT#XUDPSEND="' + "u" * 1025 + '"') == ERROR


def test_dtls_parameters_validated(make_sim, peers, fw):
    host = make_sim.host(fw=fw)
    port = udp_port(peers)
    assert host.at(f'AT#XUDPCLI=1,"127.0.0.1",{port},5,3') == ERROR      # use_dtls_cid 0..2
    assert host.at(f'AT#XUDPCLI=1,"127.0.0.1",{port},5,1,7') == ERROR    # peer_verify 0..2
    assert host.at(f'AT#XUDPCLI=1,"127.0.0.1",{port},5,1,1,2') == ERROR  # hostname_verify 0..1
    reply = host.at(f'AT#XUDPCLI=1,"127.0.0.1",{port},5,2,0,0')
    assert reply == b'\r\n#XUDPCLI: 0,"connected"\r\n' + OK
    params = host.sim.last_params
    assert (params["sec_tag"], params["use_dtls_cid"], params["peer_verify"],
            params["hostname_verify"], params["tls"]) == (5, 2, 0, 0, True)


def test_one_urc_per_datagram_and_2048_limit(make_sim, fw):
    host = make_sim.host(fw=fw)
    assert host.at("AT#XUDPSVR=1,0") == b'\r\n#XUDPSVR: 0,"started"\r\n' + OK
    port = host.sim.modem.udp.local_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        me = peer.getsockname
        peer.sendto(b"one", ("127.0.0.1", port))
        peer.sendto(b"two", ("127.0.0.1", port))
        peer.sendto(bytes(range(256)) * 12, ("127.0.0.1", port))  # 3072 bytes
        src = me()[1]
        host.expect(data_header(fw, 3, "127.0.0.1", src) + b"one")
        host.expect(data_header(fw, 3, "127.0.0.1", src) + b"two")
        # The receive buffer is 2048 bytes: a longer datagram is truncated.
        host.expect(data_header(fw, 2048, "127.0.0.1", src) + (bytes(range(256)) * 8))


def test_icmp_unreachable_disconnects_client(make_sim, fw):
    host = make_sim.host(fw=fw)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
        gone.bind(("127.0.0.1", 0))
        port = gone.getsockname()[1]
    assert host.at(f'AT#XUDPCLI=1,"127.0.0.1",{port}') == b'\r\n#XUDPCLI: 0,"connected"\r\n' + OK
    # Port unreachable surfaces as POLLERR on the connected socket: -EIO. The
    # URC comes from the proxy thread, so it may overtake the send's response.
    host.send('AT#XUDPSEND="void"\r\n')
    got = host.read_until(OK) + host.drain(quiet=0.1)
    urc = b'\r\n#XUDPCLI: -5,"disconnected"\r\n'
    assert got.replace(urc, b"") == b"\r\n#XUDPSEND: 4\r\n\r\nOK\r\n"
    assert got.count(urc) == 1
