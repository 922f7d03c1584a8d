# Smoke tests: the unix port runs with the settings the plugin promises, and
# the driver package imports under it.
import gc
import os
import sys


def test_runs_on_micropython():
    assert sys.implementation.name == "micropython"


def test_heap_is_rp2040_sized():
    # `-X heapsize=192K`: the whole GC heap is 192 KiB, as on an RP2040 board.
    gc.collect()
    total = gc.mem_free() + gc.mem_alloc()
    assert 180 * 1024 <= total <= 192 * 1024, total


def test_frozen_modules_stay_reachable():
    # MICROPYPATH keeps ".frozen", else asyncio and mip would vanish.
    assert ".frozen" in sys.path
    import asyncio  # noqa: F401
    import mip  # noqa: F401


def test_slm_mpy_version_matches_package_json():
    import slm_mpy

    expected = os.getenv("SLM_PACKAGE_VERSION")
    assert expected, "SLM_PACKAGE_VERSION is not set (package.json unreadable?)"
    assert slm_mpy.__version__ == expected, (slm_mpy.__version__, expected)
    # It came from this repository, not from some installed copy.
    assert slm_mpy.__file__.startswith(os.getenv("SLM_REPO_ROOT")), slm_mpy.__file__


def test_echo_peer_answers_over_tcp():
    # The session's loopback echo peers are reachable from the unix port.
    import socket

    from _runner import SkipTest

    port = os.getenv("SLM_ECHO_TCP_PORT")
    if not port:
        raise SkipTest("no echo peers (slm_sim.peers unavailable)")
    addr = socket.getaddrinfo("127.0.0.1", int(port))[0][-1]
    sock = socket.socket()
    try:
        sock.settimeout(5)
        sock.connect(addr)
        sock.write(b"ping\r\n")
        got = b""
        while len(got) < 6:
            chunk = sock.read(6 - len(got))
            assert chunk, "connection closed after %r" % got
            got += chunk
        assert got == b"ping\r\n", got
    finally:
        sock.close()
