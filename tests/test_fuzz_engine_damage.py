"""Engine robustness under damaged streams (issue 8): the strict form of the invariant.

Same rig as ``tests/test_fuzz_engine.py``. Each test asserts the invariant of issue 8:
every payload byte reaches the application exactly once, in order, or the application
receives an error for that connection; nothing but documented exceptions leaves the driver;
the parser resynchronises on the next intact header.

Payloads here carry no CR or LF byte: a frame end that a damaged header (or a lost byte)
moves can then never land on a CRLF by chance, so what a correct parser detects is well
defined -- every message SLM writes begins with "\r\n", so one follows every frame.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unix_port_tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzzkit import EIO, Rig, line, tcp_data, tcp_frame  # noqa: E402
from test_fuzz_engine import frames_layout as layout  # noqa: E402
from test_fuzz_engine import fuzz, plain, seeds, splits  # noqa: E402

from slm_mpy.engine import LINE  # noqa: E402

ECONNRESET = 104
TRAILER = line(b"+CEREG: 1")  # what frames_layout puts after the frames


def settle(rig: Rig, ms: int) -> None:
    """Keep the application polling for ``ms`` (a parser may use a quiet time)."""
    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        rig.pump()
        time.sleep(0.005)
    rig.pump()


def tcp_received(stream: bytes, chunk: int, seed: int) -> "tuple[Rig, tuple[bytes, list, bytes]]":
    """Parse ``stream`` with a TCP client (no UDP) in ``chunk``-sized UART reads; the rig
    and its TCP data before the first error, the errors, and the data after them."""
    rig = Rig(chunk=chunk, seed=seed, udp=False)
    rig.feed(stream)
    rig.pump()
    return rig, tcp_data(rig.tcp_events)


# ------------------------------------------------------------------ garbled URCs and replies

GARBLED_URCS = (
    b'#XTCPCLI: x,"disconnected"',
    b'#XTCPCLI: "disconnected"',
    b'#XTCPCLI: ,"disconnected"',
    b'#XTCPCLI: 0x1,"disconnected"',
    b'#XUDPCLI: -,"disconnected"',
    b'#XUDPCLI: 1 2,"stopped"',
)


@pytest.mark.parametrize("urc", GARBLED_URCS)
def test_garbled_connection_urc_does_not_escape_poll(urc: bytes) -> None:
    # A proxy URC damaged on the UART must not raise ValueError out of poll().
    rig = Rig()
    rig.feed(line(urc) + tcp_frame(b"after"))
    rig.pump()
    rig.check_no_escape()
    rig.check_resynchronised()


@pytest.mark.parametrize("urc", (b'#XTCPSVR: x,"disconnected"', b'#XTCPSVR: ,"stopped"', b'#XTCPSVR: "1.2.3.4","disconnected"'))
def test_garbled_server_urc_does_not_escape_poll(urc: bytes) -> None:
    rig = Rig(tcp=False, udp=False)
    rig.answers[b"AT#XTCPSVR=1,3442"] = b'\r\n#XTCPSVR: 0,"started"\r\n\r\nOK\r\n'
    srv = rig.modem.tcp_server(3442)
    rig.feed(line(b'#XTCPSVR: "1.2.3.4","connected"') + line(urc))
    try:
        for _ in range(20):
            rig.modem.poll()
    except OSError:
        pass
    except Exception as e:  # noqa: BLE001
        raise AssertionError("undocumented %r from poll()" % e)
    assert srv.listening or srv.closed
    rig.check_resynchronised()


GARBLED_REPLIES = (
    # (what the application calls, the command it sends, the damaged reply)
    ("tcp_client", b'AT#XTCPCLI=1,"h",1', b'\r\n#XTCPCLI: x,"connected"\r\n\r\nOK\r\n'),
    ("tcp_client", b'AT#XTCPCLI=1,"h",1', b'\r\n#XTCPCLI: -1x1,"not connected"\r\n\r\nERROR\r\n'),
    ("udp_client", b'AT#XUDPCLI=1,"h",7', b'\r\n#XUDPCLI: ?,"connected"\r\n\r\nOK\r\n'),
    ("send", b'AT#XTCPSEND="hello"', b"\r\n#XTCPSEND: 5x\r\n\r\nOK\r\n"),
    ("send", b'AT#XTCPSEND="hello"', b"\r\n#XTCPSEND: \r\n\r\nOK\r\n"),
    ("send_binary", b"AT#XDATACTRL?", b"\r\n#XDATACTRL: a,b\r\n\r\nOK\r\n"),
)


@pytest.mark.parametrize("call,cmd,reply", GARBLED_REPLIES)
def test_garbled_reply_raises_oserror(call: str, cmd: bytes, reply: bytes) -> None:
    # A reply damaged on the UART is a modem failure: OSError, never ValueError.
    rig = Rig(tcp=call in ("send", "send_binary"), udp=False)
    rig.answers[cmd] = reply
    try:
        if call == "tcp_client":
            rig.modem.tcp_client("h", 1)
        elif call == "udp_client":
            rig.modem.udp_client("h", 7)
        elif call == "send":
            rig.tcp.send(b"hello")
        else:
            rig.modem.udp_client("h", 7).send(b"\x00binary datagram")
    except OSError:
        pass
    except Exception as e:  # noqa: BLE001
        raise AssertionError("%s: undocumented %r for the reply %r" % (call, e, reply))
    rig.check_resynchronised()


# ------------------------------------------------------------------ closed connections


def test_frames_for_a_closed_connection_do_not_stall_the_parser() -> None:
    # The application stops reading a connection once it reported its end. Bytes that a
    # garbled stream still addresses to it must be dropped, not block every later reply.
    rig = Rig(udp=False, read_after_close=False)
    rig.feed(line(b'#XTCPCLI: -104,"disconnected"'))
    rig.pump()
    assert rig.tcp_closed
    rig.feed(tcp_frame(b"x" * 2000) + tcp_frame(b"y" * 2000) + TRAILER)
    rig.pump()
    assert rig.cereg == ["+CEREG: 1"]
    rig.check_resynchronised()


# ------------------------------------------------------------------ wrong payload lengths

BOGUS = (b"99999", b"-5", b"0", b"abc", b"", b"12a", b"2049", b" 5", b"5 5")


@pytest.mark.parametrize("chunk", (0, 1, -1))
@pytest.mark.parametrize("size", BOGUS)
def test_bogus_size_reports_loss_before_later_data(size: bytes, chunk: int) -> None:
    # The loss of the frame with the bogus header must be reported between the data before
    # it and the data after it, whatever was already queued when the application reads.
    a, b, c, d = b"A" * 300, b"B" * 200, b"C" * 100, b"D" * 50
    rig, (before, errors, after) = tcp_received(tcp_frame(a) + b"\r\n#XTCPDATA: " + size + b"\r\n" + b + tcp_frame(c) + tcp_frame(d) + TRAILER, chunk, 3)
    rig.check_no_escape()
    assert before == a
    assert errors and set(errors) == {EIO}, errors
    assert after == c + d


@st.composite
def wrong_length(draw):
    """Frames A.. B C.. where B's header states a wrong size; returns the case."""
    before = draw(st.lists(plain, min_size=1, max_size=2))
    b = draw(plain)
    after = draw(st.lists(plain, min_size=1, max_size=3))
    payloads = before + [b] + after
    stream, spans = layout(payloads)
    j = len(before)
    kind = draw(st.sampled_from(["short", "long"]))
    n = len(b)
    pstart = spans[j][1]
    if kind == "short":
        assume(n >= 2)
        size = draw(st.integers(1, n - 1))
    else:
        # Too large, but the stated end must not fall where a correct parser cannot see the
        # damage: on a CRLF (a header start or end) or beyond the bytes that follow.
        hi = min(2048, len(stream) - 2 - pstart)
        assume(hi > n)
        size = draw(st.integers(n + 1, hi))
        assume(stream[pstart + size : pstart + size + 2] != b"\r\n")
    text = b"%d" % size
    digits = stream.index(b"\r\n", spans[j][0] + 2)
    damaged = stream[: spans[j][0]] + b"\r\n#XTCPDATA: " + text + stream[digits:]
    shift = len(text) - len(b"%d" % n)
    end = pstart + shift + size  # the stated end, in the damaged stream
    spans_d = [(s + shift, p + shift) if k > j else (s, p) for k, (s, p) in enumerate(spans)]
    # Frames whose header starts at or after the stated end can always be found again.
    k_max = j + 1
    while k_max < len(payloads) and spans_d[k_max][0] < end:
        k_max += 1
    return payloads, j, size, kind, bytes(damaged), k_max


@fuzz(100)
@given(case=wrong_length(), chunk=splits, seed=seeds)
def test_wrong_payload_length_reports_loss_and_later_frames_parse(case: tuple, chunk: int, seed: int) -> None:
    payloads, j, size, kind, stream, k_max = case
    rig, (before, errors, after) = tcp_received(stream, chunk, seed)
    rig.check_no_escape()
    head = b"".join(payloads[:j])
    assert before.startswith(head), "data before the damaged frame changed"
    assert len(before) <= len(head) + size, "data of later frames came before the loss was reported"
    assert errors and set(errors) == {EIO}, "wrong length of frame %d (%s, %d) not reported: %r" % (j, kind, size, errors)
    # Resynchronised on the next header the parser can still find: everything from there on.
    assert any(after == b"".join(payloads[k:]) for k in range(j + 1, k_max + 1)), "later frames lost or changed"
    rig.flush()
    rig.check_resynchronised()


# ------------------------------------------------------------------ lost bytes


@st.composite
def lost_payload_byte(draw):
    payloads = draw(st.lists(plain, min_size=2, max_size=5))
    stream, spans = layout(payloads)
    j = draw(st.integers(0, len(payloads) - 1))
    d = draw(st.integers(0, len(payloads[j]) - 1))
    pos = spans[j][1] + d
    return payloads, j, d, bytes(stream[:pos] + stream[pos + 1 :])


@fuzz(100)
@given(case=lost_payload_byte(), chunk=splits, seed=seeds)
def test_lost_payload_byte_is_reported_before_later_data(case: tuple, chunk: int, seed: int) -> None:
    # One payload byte lost on the UART: the frame ends one byte late, on the "\r" that
    # starts the next line instead of before it. That is visible; it must be reported.
    payloads, j, d, stream = case
    rig, (before, errors, after) = tcp_received(stream, chunk, seed)
    rig.check_no_escape()
    head = b"".join(payloads[:j])
    assert before.startswith(head)
    assert len(before) <= len(head) + len(payloads[j])
    assert errors and set(errors) == {EIO}, "lost byte %d of frame %d not reported" % (d, j)
    assert after == b"".join(payloads[j + 1 :])
    assert rig.cereg == ["+CEREG: 1"]


# ------------------------------------------------------------------ reboot inside a frame


@pytest.mark.parametrize("garbage", (b"", b"\xc0", b"\xc0\xff"))
@pytest.mark.parametrize("cut", (0, 1, 700))
def test_ready_inside_a_truncated_frame(cut: int, garbage: bytes) -> None:
    # The modem rebooted while it sent a frame: the payload stops, "Ready" follows, then
    # silence. The application gets the data before the frame and then an error -- never
    # the banner as payload -- and the modem is usable after wait_ready().
    a = bytes(range(256)) * 2
    b = bytes((i * 7) & 255 for i in range(1500))
    rig = Rig(udp=False)
    rig.feed(tcp_frame(a) + b"\r\n#XTCPDATA: %d\r\n" % len(b) + b[:cut] + garbage + b"Ready\r\n")
    settle(rig, 1000)  # the driver may wait for a quiet line before it calls it a reboot
    rig.check_no_escape()
    before, errors, after = tcp_data(rig.tcp_events)
    assert before.startswith(a) and b[:cut].startswith(before[len(a) :]), "the banner was handed out as payload"
    assert errors and set(errors) <= {EIO, ECONNRESET}, errors
    assert after == b""
    assert rig.tcp.closed
    rig.modem.wait_ready(2000)
    assert rig.modem.state == LINE
    assert rig.modem.at("AT", timeout_ms=500) == []


def test_frames_after_a_false_reboot_do_not_stall_the_parser() -> None:
    # After a lost byte the rest of a frame is read as lines; payload ending a line with
    # "Ready" then looks like a reboot and the connection is reported reset. The modem did
    # not reboot, so frames for that connection keep coming. The application has seen the
    # error, stops reading and closes the connection: those frames must be dropped, not
    # fill its queue and stall every later reply.
    rig = Rig(udp=False, read_after_close=False)
    rig.feed(line(b"\x81payload line that says Ready"))
    settle(rig, 700)
    assert rig.tcp_closed or rig.tcp_events, "the false reboot was not reported at all"
    try:
        rig.tcp.close()
    except OSError:
        pass
    rig.feed(tcp_frame(b"x" * 2000) + tcp_frame(b"y" * 2000) + TRAILER)
    rig.pump()
    assert rig.cereg == ["+CEREG: 1"]
    rig.check_resynchronised()
