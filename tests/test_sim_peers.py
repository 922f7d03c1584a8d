"""Tests for slm_sim.peers: the loopback echo servers the driver tests rely on."""
from __future__ import annotations

import socket

import pytest

import test_sim_support  # noqa: F401  (puts the repo root on sys.path)
from slm_sim.peers import start_echo_peers


@pytest.fixture()
def peers():
    p = start_echo_peers()
    yield p
    p.close()


def test_env_has_all_ports(peers):
    assert set(peers.env) == {
        "SLM_ECHO_TCP_PORT", "SLM_ECHO_UDP_PORT", "SLM_ECHO_TCP6_PORT", "SLM_ECHO_UDP6_PORT"}
    assert all(int(v) > 0 for v in peers.env.values())


@pytest.mark.parametrize("host,key", [("127.0.0.1", "SLM_ECHO_TCP_PORT"), ("::1", "SLM_ECHO_TCP6_PORT")])
def test_tcp_echo_with_half_close(peers, host, key):
    payload = bytes(range(256)) * 1000
    with socket.create_connection((host, int(peers.env[key])), timeout=5) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    assert bytes(got) == payload


def test_tcp_many_clients(peers):
    port = int(peers.env["SLM_ECHO_TCP_PORT"])
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(10)]
    for i, s in enumerate(socks):
        s.sendall(b"client %d" % i)
    for i, s in enumerate(socks):
        want = b"client %d" % i
        got = b""
        while len(got) < len(want):
            got += s.recv(100)
        assert got == want
        s.close()


@pytest.mark.parametrize("family,host,key", [
    (socket.AF_INET, "127.0.0.1", "SLM_ECHO_UDP_PORT"),
    (socket.AF_INET6, "::1", "SLM_ECHO_UDP6_PORT")])
def test_udp_echo(peers, family, host, key):
    with socket.socket(family, socket.SOCK_DGRAM) as u:
        u.settimeout(5)
        for msg in (b"one", b"two" * 100):
            u.sendto(msg, (host, int(peers.env[key])))
            data, addr = u.recvfrom(65535)
            assert data == msg
            assert addr[1] == int(peers.env[key])


def test_close_is_idempotent():
    p = start_echo_peers()
    p.close()
    p.close()
