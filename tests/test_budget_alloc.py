"""Allocation budgets of the receive path and of text sends (issue 7), held by CI.

Figures come from ``bench/cases.py`` under ``micropython -X heapsize=192K`` (see
tests/test_budgets.py for why the fake UART does not pollute them):

* ``recv_into`` allocates at most 64 bytes per KiB received in 1024-byte frames, TCP and UDP
  (datagrams from one sender).
* Nothing it allocates grows with the payload: when the UART hands out pieces of 8 or 64
  bytes, a 2048-byte frame may cost at most 32 bytes more than a 64-byte frame (anything
  allocated per UART read or per byte would cost hundreds).
* ``recv`` allocates the bytes object it returns plus at most 64 bytes per call.
* With whole frames arriving (one frame per UART read), ``recv_into`` runs under
  ``micropython.heap_lock()`` without allocating at all, TCP and UDP (one sender).
* A text send (``AT#XTCPSEND="..."``) makes no copy of its payload: 1 KiB of text costs at
  most 128 bytes more than 64 bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_budgets import DRIVER, bench  # noqa: E402  (the shared loader of bench/run.py)

GROWTH = 32  # bytes per frame that 32 times the payload per frame may add
PER_CALL = 64  # bytes beyond the returned bytes objects


@pytest.fixture(scope="module", autouse=True)
def _micropython() -> None:
    try:
        bench.find_micropython()
    except bench.BenchError as e:
        pytest.skip(str(e))


def alloc(kind: str, size: int, method: str, cap: int) -> dict:
    r = bench.run_mp("cases.py", ["alloc", kind, size, method, cap], DRIVER)[0]
    assert r["stream_errors"] == 0, "the driver could not parse %d lines of the recorded stream" % r["stream_errors"]
    return r


def test_recv_into_1024_byte_frames_within_64_bytes_per_kib() -> None:
    r = alloc("tcp", 1024, "recv_into", 4096)
    assert r["alloc_per_kib"] <= bench.BUDGET_RECV_INTO_PER_KIB, "recv_into allocates %.0f B per KiB (budget %d)" % (
        r["alloc_per_kib"],
        bench.BUDGET_RECV_INTO_PER_KIB,
    )


def test_udp_recv_into_from_one_sender_within_64_bytes_per_kib() -> None:
    # NCS >= 2.8 names the sender in every #XUDPDATA header; the parsed address of a sender
    # that repeats is reused, not parsed into new objects per datagram.
    r = alloc("udp", 1024, "recv_into", 4096)
    assert r["alloc_per_kib"] <= bench.BUDGET_RECV_INTO_PER_KIB, "UDP recv_into allocates %.0f B per KiB" % r["alloc_per_kib"]


@pytest.mark.parametrize("cap", [8, 64])
def test_recv_into_allocation_does_not_grow_with_the_payload(cap: int) -> None:
    # The UART hands out small pieces, as a real one does between two polls. Frames 32 times
    # larger may cost at most one more small object per frame: nothing per read or per byte.
    small = alloc("tcp", 64, "recv_into", cap)
    large = alloc("tcp", 2048, "recv_into", cap)
    growth = large["alloc_per_frame"] - small["alloc_per_frame"]
    assert growth <= GROWTH, "UART reads <= %d B: %.0f B allocated per 2048-byte frame, %.0f B per 64-byte frame" % (
        cap,
        large["alloc_per_frame"],
        small["alloc_per_frame"],
    )


@pytest.mark.parametrize("size,cap", [(64, 4096), (1024, 4096), (2048, 4096), (1024, 64)])
def test_recv_allocates_the_returned_bytes_plus_a_constant(size: int, cap: int) -> None:
    r = alloc("tcp", size, "recv", cap)
    assert r["overhead_per_call"] <= PER_CALL, "recv allocates %.0f B per call beyond the bytes it returns (%d-byte frames)" % (
        r["overhead_per_call"],
        size,
    )


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_recv_into_allocates_nothing_under_heap_lock(kind: str) -> None:
    r = bench.run_mp("cases.py", ["heaplock", kind, 1024, "recv_into", 0], DRIVER)[0]
    assert r["heap_lock"] == "ok", "recv_into allocated under heap_lock: " + bench.short_site(r["heap_lock"], str(DRIVER))
    assert r["alloc"] == 0, "recv_into allocated %d B (exception objects slip past heap_lock)" % r["alloc"]


def test_text_send_does_not_copy_the_payload() -> None:
    # A quoted-string send (AT#XTCPSEND="...") is written from the caller's buffer: 1 KiB of
    # text may cost no more than 64 B of text plus a constant (one copy alone is 1 KiB).
    small = bench.run_mp("cases.py", ["uplink", "text", 64, "text", 0], DRIVER)[0]
    large = bench.run_mp("cases.py", ["uplink", "text", 1024, "text", 0], DRIVER)[0]
    assert small["strings"] == large["strings"] == 1, "expected one AT#XTCPSEND=\"...\" each: %r %r" % (small, large)
    assert large["alloc"] - small["alloc"] <= 128, "a 1 KiB text send allocates %d B, a 64 B one %d B" % (large["alloc"], small["alloc"])
