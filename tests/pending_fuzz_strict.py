"""The strictest form of the invariant, not met (issue 8): kept out of the suite on purpose.

The driver hands payload on as it arrives and checks a frame's length only against the CR LF
that begins SLM's next message. When a length is wrong (a byte lost on the UART, a damaged
header), the loss is reported in stream order, but bytes of the damaged frame before the
check -- after a lost byte, or bytes of the next message -- have already been handed on.
Holding every frame until the byte after it is seen would meet these tests, but keeps up to
2 KiB in the receive buffer, so every UART read then lands behind unread bytes and allocates
(on MicroPython a memoryview slice per read): 8 KB per 2 KiB frame with 8-byte reads, which
breaks issue 7's allocation budget. Run with pytest by name to see the cases.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_fuzz_engine_damage import fuzz, lost_payload_byte, seeds, splits, tcp_received, wrong_length  # noqa: E402


@fuzz(100)
@given(case=wrong_length(), chunk=splits, seed=seeds)
def test_wrong_payload_length_hands_out_no_foreign_bytes(case: tuple, chunk: int, seed: int) -> None:
    # Stricter: before the error the application sees only real payload bytes -- the
    # frames before the damaged one and at most a prefix of the damaged frame itself.
    payloads, j, size, kind, stream, _ = case
    _, (before, errors, _) = tcp_received(stream, chunk, seed)
    head = b"".join(payloads[:j])
    assert before.startswith(head)
    assert payloads[j].startswith(before[len(head) :]), "bytes that are not payload were handed out as data"
    assert errors


@fuzz(60)
@given(case=lost_payload_byte(), chunk=splits, seed=seeds)
def test_lost_payload_byte_hands_out_no_foreign_bytes(case: tuple, chunk: int, seed: int) -> None:
    payloads, j, d, stream = case
    _, (before, errors, _) = tcp_received(stream, chunk, seed)
    head = b"".join(payloads[:j])
    assert before.startswith(head)
    assert payloads[j][:d].startswith(before[len(head) :]), "bytes after the lost one were handed out as if intact"
    assert errors
