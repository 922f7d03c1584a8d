"""Property tests of the AT engine's parser (issue 8), CPython + hypothesis.

The driver runs on a scripted UART (``unix_port_tests/mockuart.py``); ``fuzzkit.Rig`` plays
the application (polls, reads the TCP and UDP connections) and records what it gets. The
properties, for every input and every way of splitting it into UART reads:

* nothing but ``OSError`` (incl. ``ATError``/``ModemReset``) comes out of the driver;
* memory stays bounded: the receive buffer and the connection queues never grow;
* the parser resynchronises: after bytes that end any frame or line the garbage may have
  begun, it is idle in LINE state and a command exchange works;
* a valid stream reaches the application exactly: every payload byte once, in order, every
  URC to its callback, every reply to its command;
* a damaged frame costs at most that frame (and the frames whose headers it swallowed):
  later frames arrive intact.

The examples are derandomised (the same ones every run) so a failure reproduces; set
``SLM_FUZZ_EXAMPLES`` to run more of them. The sibling MicroPython corpus is
``unix_port_tests/test_fuzz_corpus.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unix_port_tests"))

from fuzzkit import LOOKALIKES, Rig, line, tcp_data, tcp_frame, udp_frame  # noqa: E402

from slm_mpy.engine import LINE  # noqa: E402

SCALE = float(os.environ.get("SLM_FUZZ_EXAMPLES", "1"))


def fuzz(examples: int):
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


splits = st.sampled_from([0, 1, -1])  # MockUART: everything at once, byte by byte, random
seeds = st.integers(min_value=1, max_value=2**31)

# Garbage: random binary mixed with fragments of real protocol and its well-formed look-alikes.
HEADERS = (
    b"\r\n#XTCPDATA: 99999\r\n",
    b"\r\n#XTCPDATA: -5\r\n",
    b"\r\n#XTCPDATA: 0\r\n",
    b"\r\n#XTCPDATA: abc\r\n",
    b"\r\n#XTCPDATA: \r\n",
    b"\r\n#XTCPDATA: 12a\r\n",
    b"\r\n#XTCPDATA: 2049\r\n",
    b"\r\n#XTCPDATA: 7",
    b'\r\n#XUDPDATA: 5,"1.2.3.4"\r\n',
    b'\r\n#XUDPDATA: 5,"1.2.3.4",99999\r\n',
    b'\r\n#XUDPDATA: 5,"\xff\xfe",7\r\n',
    b"\r\n#XUDPDATA: 9",
    b"\r\n#XDATAMODE: zz\r\n",
    b"\r\n+CME ERROR: x\r\n",
    b"\r\n+CMS ERROR: \r\n",
    b"Z" * 3000,
    b"\r\n" + b"Q" * 2600,
)
garbage = st.lists(
    st.one_of(st.binary(max_size=80), st.sampled_from(LOOKALIKES), st.sampled_from(HEADERS)),
    max_size=30,
).map(b"".join)


@fuzz(150)
@given(data=garbage, chunk=splits, seed=seeds)
def test_arbitrary_bytes_never_crash_and_resynchronise(data: bytes, chunk: int, seed: int) -> None:
    rig = Rig(chunk=chunk, seed=seed)
    rig.feed(data)
    rig.pump()
    rig.check_no_escape()
    rig.check_bounded()
    rig.flush()
    rig.check_no_escape()
    rig.check_bounded()
    rig.check_resynchronised()


@fuzz(80)
@given(data=garbage, chunk=splits, seed=seeds)
def test_arbitrary_bytes_as_the_reply_to_a_pending_command(data: bytes, chunk: int, seed: int) -> None:
    rig = Rig(chunk=chunk, seed=seed)
    rig.answers[b"AT+CFUN?"] = data
    try:
        rig.modem.at("AT+CFUN?", timeout_ms=20)
    except OSError:
        pass  # ERROR in the garbage, a reboot, or no final result at all: all documented
    except Exception as e:  # noqa: BLE001 - this is what the test looks for
        raise AssertionError("undocumented %r from at()" % e)
    rig.pump()
    rig.flush()
    rig.check_no_escape()
    rig.check_bounded()
    rig.check_resynchronised()


# ------------------------------------------------------------------ valid streams

lookalike_payload = st.lists(
    st.one_of(st.sampled_from(LOOKALIKES), st.binary(min_size=1, max_size=64)), min_size=1, max_size=40
).map(lambda parts: b"".join(parts)[:2048])
payloads = st.one_of(st.binary(min_size=1, max_size=2048), lookalike_payload)
small_payloads = st.one_of(st.binary(min_size=1, max_size=300), lookalike_payload.map(lambda p: p[:300]))
addrs = st.one_of(st.none(), st.tuples(st.sampled_from(["127.0.0.1", "::1", "192.168.1.100"]), st.integers(0, 65535)))

tcp_ev = st.tuples(st.just("tcp"), payloads)
udp_ev = st.tuples(st.just("udp"), payloads, addrs)
cereg_ev = st.tuples(st.just("cereg"), st.integers(0, 5))
other_ev = st.tuples(st.just("other"), st.sampled_from(["%XFOO: 1", "#XPING: 0.637 seconds", "#XGPS: 1,2"]))
in_reply = st.one_of(
    st.tuples(st.just("tcp"), small_payloads),
    st.tuples(st.just("udp"), small_payloads, addrs),
    cereg_ev,
)
cmd_ev = st.tuples(st.just("cmd"), st.lists(in_reply, max_size=2), st.lists(in_reply, max_size=2))
program = st.lists(st.one_of(tcp_ev, udp_ev, cereg_ev, other_ev, cmd_ev), min_size=1, max_size=10)


def encode(ev: tuple, expect: dict) -> bytes:
    kind = ev[0]
    if kind == "tcp":
        expect["tcp"].append(ev[1])
        return tcp_frame(ev[1])
    if kind == "udp":
        expect["udp"].append((ev[1], ev[2]))
        return udp_frame(ev[1], ev[2])
    if kind == "cereg":
        expect["cereg"].append("+CEREG: %d" % ev[1])
        return line(b"+CEREG: %d" % ev[1])
    expect["other"].append(ev[1])
    return line(ev[1].encode())


@fuzz(120)
@given(steps=program, chunk=splits, seed=seeds)
def test_valid_streams_reach_the_application_exactly(steps: list, chunk: int, seed: int) -> None:
    rig = Rig(chunk=chunk, seed=seed)
    expect: dict = {"tcp": [], "udp": [], "cereg": [], "other": []}
    for ev in steps:
        if ev[0] != "cmd":
            rig.feed(encode(ev, expect))
            continue
        # A command whose reply has frames and URCs before its information line and before
        # its OK (SLM's proxy threads write between the writes of a command).
        rig.pump()
        pre = b"".join(encode(e, expect) for e in ev[1])
        mid = b"".join(encode(e, expect) for e in ev[2])
        rig.answers[b"AT+CFUN?"] = pre + b"\r\n+CFUN: 1\r\n" + mid + b"\r\nOK\r\n"
        assert rig.modem.at("AT+CFUN?", timeout_ms=2000) == ["+CFUN: 1"]
    rig.pump()
    rig.check_no_escape()
    rig.check_bounded()
    before, errors, _ = tcp_data(rig.tcp_events)
    assert errors == []
    assert before == b"".join(expect["tcp"])
    assert rig.udp_events == expect["udp"]
    assert rig.cereg == expect["cereg"]
    assert rig.others == expect["other"]
    assert rig.modem.reboots == 1  # "Ready" inside payloads is data
    assert rig.modem.state == LINE and not rig.tcp.closed and not rig.udp.closed
    rig.check_resynchronised()


# ------------------------------------------------------------------ damaged streams

# Payloads without CR and LF: a frame end shifted by a damaged header or a lost byte then
# cannot land on a CRLF by chance, so what a correct parser can detect is well defined.
plain = st.binary(min_size=1, max_size=600).map(lambda b: b.replace(b"\r", b"r").replace(b"\n", b"n"))


def frames_layout(payloads: list) -> tuple:
    """The byte stream of TCP frames + a trailing URC, and each frame's (start, payload start)."""
    stream = bytearray()
    spans = []
    for p in payloads:
        start = len(stream)
        stream += tcp_frame(p)
        spans.append((start, len(stream) - len(p)))
    stream += line(b"+CEREG: 1")
    return bytes(stream), spans


def damaged_frame(spans: list, pos: int) -> int:
    j = 0
    while j + 1 < len(spans) and spans[j + 1][0] <= pos:
        j += 1
    return j


def declared_end(stream: bytes, start: int) -> int:
    """Where the frame whose header begins at ``start`` ends by its (maybe damaged) header.

    -1 when the header no longer reads as a #XTCPDATA header with a usable size.
    """
    nl = stream.find(b"\n", start + 2)
    text = stream[start:nl]
    if not text.startswith(b"\r\n#XTCPDATA: "):
        return -1
    digits = text[13:].rstrip(b"\r")
    if not digits.isdigit() or len(digits) > 9:
        return -1
    n = int(digits)
    return nl + 1 + n if 0 < n <= 2048 else -1


def check_other_frames_intact(rig: Rig, payloads: list, spans: list, stream: bytes, j: int) -> None:
    # Frames before the damaged one arrive exactly; so do all frames whose header begins
    # after the damaged frame's (declared) end. What came in between may be lost.
    data = b"".join(ev for ev in rig.tcp_events if not isinstance(ev, int))
    head = b"".join(payloads[:j])
    assert data.startswith(head), "frames before the damaged one changed"
    end = max(declared_end(stream, spans[j][0]), spans[j + 1][0] if j + 1 < len(spans) else len(stream))
    k = j + 1
    while k < len(spans) and spans[k][0] < end:
        k += 1
    tail = b"".join(payloads[k:])
    assert data.endswith(tail), "frames after the damaged one were not intact"
    assert len(data) >= len(head) + len(tail)


@fuzz(120)
@given(payloads=st.lists(plain, min_size=2, max_size=6), where=st.floats(0, 1), xor=st.integers(1, 255), chunk=splits, seed=seeds)
def test_one_corrupted_byte_costs_at_most_its_frame(payloads: list, where: float, xor: int, chunk: int, seed: int) -> None:
    stream, spans = frames_layout(payloads)
    frames_end = len(stream) - len(line(b"+CEREG: 1"))
    pos = min(int(where * frames_end), frames_end - 1)
    damaged = bytearray(stream)
    damaged[pos] ^= xor
    rig = Rig(chunk=chunk, seed=seed, udp=False)
    rig.feed(bytes(damaged))
    rig.pump()
    rig.check_no_escape()
    rig.check_bounded()
    check_other_frames_intact(rig, payloads, spans, bytes(damaged), damaged_frame(spans, pos))
    rig.flush()
    rig.check_resynchronised()


@fuzz(120)
@given(payloads=st.lists(plain, min_size=2, max_size=6), where=st.floats(0, 1), count=st.integers(1, 3), chunk=splits, seed=seeds)
def test_lost_bytes_cost_at_most_their_frame(payloads: list, where: float, count: int, chunk: int, seed: int) -> None:
    stream, spans = frames_layout(payloads)
    frames_end = len(stream) - len(line(b"+CEREG: 1"))
    pos = min(int(where * frames_end), frames_end - 1)
    j = damaged_frame(spans, pos)
    count = min(count, (spans[j + 1][0] if j + 1 < len(spans) else frames_end) - pos)
    lossy = stream[:pos] + stream[pos + count :]
    rig = Rig(chunk=chunk, seed=seed, udp=False)
    rig.feed(lossy)
    rig.pump()
    rig.check_no_escape()
    rig.check_bounded()
    # With bytes gone, the damaged frame's declared end moves; judge it on the lossy stream.
    spans_lossy = [(s if s <= pos else s - count, p if p <= pos else p - count) for s, p in spans]
    check_other_frames_intact(rig, payloads, spans_lossy, lossy, j)
    rig.flush()
    rig.check_resynchronised()


@fuzz(60)
@given(before=st.lists(plain, min_size=1, max_size=3), after=st.lists(plain, min_size=1, max_size=3), size=st.integers(2561, 6000), chunk=splits, seed=seeds)
def test_overlong_line_between_frames(before: list, after: list, size: int, chunk: int, seed: int) -> None:
    rig = Rig(chunk=chunk, seed=seed, udp=False)
    junk = (b"#XJUNK: " + b"j" * size)[:size]
    rig.feed(b"".join(tcp_frame(p) for p in before) + line(junk) + b"".join(tcp_frame(p) for p in after))
    rig.pump()
    rig.check_no_escape()
    rig.check_bounded()
    before_data, errors, _ = tcp_data(rig.tcp_events)
    assert errors == [] and before_data == b"".join(before + after)
    assert rig.modem.overlong_lines == 1
    rig.check_resynchronised()
