# timeout: 120
"""A seeded random corpus for the engine, run on MicroPython itself (issue 8).

The same properties as ``tests/test_fuzz_engine.py`` (hypothesis, CPython), here with a
fixed xorshift corpus on the unix port with an RP2040-sized heap: nothing but OSError leaves
the driver, its buffers never grow, the heap does not creep, the parser resynchronises, valid
streams arrive exactly, and a damaged frame costs at most itself.
"""

import gc

from fuzzkit import LOOKALIKES, Rand, Rig, line, same_concat, tcp_data, tcp_frame, udp_frame

BOGUS = (
    b"\r\n#XTCPDATA: 99999\r\n",
    b"\r\n#XTCPDATA: -5\r\n",
    b"\r\n#XTCPDATA: abc\r\n",
    b"\r\n#XTCPDATA: \r\n",
    b"\r\n#XTCPDATA: 2049\r\n",
    b'\r\n#XUDPDATA: 5,"1.2.3.4"\r\n',
    b'\r\n#XUDPDATA: 5,"x",99999\r\n',
    b"\r\n#XDATAMODE: zz\r\n",
    b"\r\n+CME ERROR: x\r\n",
)
SPLITS = (0, 1, -1)


def garbage(r):
    out = bytearray()
    for _ in range(r.between(0, 14)):
        k = r.below(10)
        if k < 4:
            out += r.bytes(r.between(0, 64))
        elif k < 7:
            out += r.choice(LOOKALIKES)
        elif k < 9:
            out += r.choice(BOGUS)
        else:
            out += b"Z" * r.between(2561, 2800)  # longer than the receive buffer
    return bytes(out)


def heap_used():
    gc.collect()
    return gc.mem_alloc()


def _median(values):
    values = sorted(values)
    return values[len(values) // 2]


def test_garbage_never_crashes_and_the_parser_resynchronises():
    heap = []
    for seed in range(1, 61):
        r = Rand(seed)
        rig = Rig(chunk=SPLITS[seed % 3], seed=seed)
        rig.feed(garbage(r))
        rig.pump()
        rig.check_no_escape()
        rig.check_bounded()
        rig.flush()
        rig.check_no_escape()
        rig.check_bounded()
        rig.check_resynchronised()
        rig.release()
        del rig
        heap.append(heap_used())
    # One rig lives at a time, so what stays allocated between seeds must not creep. Medians:
    # the collector is conservative, a stale pointer may keep one old stream alive for a while.
    early = _median(heap[5:15])
    late = _median(heap[-10:])
    assert late - early < 4096, "heap grew from %d to %d bytes over the corpus" % (early, late)


def test_garbage_as_the_reply_to_a_pending_command():
    for seed in range(100, 130):
        r = Rand(seed)
        rig = Rig(chunk=SPLITS[seed % 3], seed=seed)
        rig.answers[b"AT+CFUN?"] = garbage(r)
        try:
            rig.modem.at("AT+CFUN?", timeout_ms=20)
        except OSError:
            pass
        rig.pump()
        rig.flush()
        rig.check_no_escape()
        rig.check_bounded()
        rig.check_resynchronised()
        rig.release()
        del rig
        gc.collect()


def _valid_stream(r, expect):
    out = bytearray()
    for _ in range(r.between(1, 8)):
        k = r.below(6)
        if k < 2:
            p = r.payload(r.between(1, 2048)) if r.below(2) else r.bytes(r.between(1, 2048))
            expect["tcp"].append(p)
            out += tcp_frame(p)
        elif k < 4:
            p = r.payload(r.between(1, 1500))
            addr = r.choice((None, ("127.0.0.1", r.below(65536)), ("::1", 7)))
            expect["udp"].append((p, addr))
            out += udp_frame(p, addr)
        elif k == 4:
            n = r.below(6)
            expect["cereg"].append("+CEREG: %d" % n)
            out += line(b"+CEREG: %d" % n)
        else:
            expect["other"].append("%XFOO: 1")
            out += line(b"%XFOO: 1")
    return out


def test_valid_streams_arrive_exactly_at_any_split():
    for seed in range(200, 245):
        r = Rand(seed)
        rig = Rig(chunk=SPLITS[seed % 3], seed=seed)
        expect = {"tcp": [], "udp": [], "cereg": [], "other": []}
        rig.feed(_valid_stream(r, expect))
        rig.pump()
        rig.check_no_escape()
        rig.check_bounded()
        errors = [e for e in rig.tcp_events if isinstance(e, int)]
        assert errors == [], (seed, errors)
        assert same_concat(rig.tcp_events, expect["tcp"]), seed
        assert rig.udp_events == expect["udp"], seed
        assert rig.cereg == expect["cereg"] and rig.others == expect["other"], seed
        assert rig.modem.reboots == 1
        rig.check_resynchronised()
        # One rig at a time: its stream and records must not crowd the next seed's heap.
        rig.release()
        del rig
        gc.collect()


def _plain(r, n):
    return r.bytes(n, exclude=b"\r\n")


def _frames(r):
    payloads = [_plain(r, r.between(1, 600)) for _ in range(r.between(2, 6))]
    stream = bytearray()
    spans = []
    for p in payloads:
        spans.append(len(stream))
        stream += tcp_frame(p)
    frames_end = len(stream)
    stream += line(b"+CEREG: 1")
    return payloads, spans, stream, frames_end


def _declared_end(stream, start):
    nl = stream.find(b"\n", start + 2)
    text = bytes(stream[start:nl])
    if not text.startswith(b"\r\n#XTCPDATA: "):
        return -1
    digits = text[13:].rstrip(b"\r")
    if not digits or not digits.isdigit() or len(digits) > 9:
        return -1
    n = int(digits)
    return nl + 1 + n if 0 < n <= 2048 else -1


def _check_other_frames(rig, payloads, spans, stream, j, seed):
    data = b"".join(ev for ev in rig.tcp_events if not isinstance(ev, int))
    head = b"".join(payloads[:j])
    assert data.startswith(head), seed
    nxt = spans[j + 1] if j + 1 < len(spans) else len(stream)
    end = max(_declared_end(stream, spans[j]), nxt)
    k = j + 1
    while k < len(spans) and spans[k] < end:
        k += 1
    tail = b"".join(payloads[k:])
    assert data.endswith(tail), seed
    assert len(data) >= len(head) + len(tail), seed


def _frame_of(spans, pos):
    j = 0
    while j + 1 < len(spans) and spans[j + 1] <= pos:
        j += 1
    return j


def test_one_corrupted_byte_costs_at_most_its_frame():
    for seed in range(300, 360):
        r = Rand(seed)
        payloads, spans, stream, frames_end = _frames(r)
        pos = r.below(frames_end)
        stream[pos] ^= r.between(1, 255)
        rig = Rig(chunk=SPLITS[seed % 3], seed=seed, udp=False)
        rig.feed(stream)
        rig.pump()
        rig.check_no_escape()
        rig.check_bounded()
        _check_other_frames(rig, payloads, spans, stream, _frame_of(spans, pos), seed)
        rig.flush()
        rig.check_resynchronised()


def test_lost_bytes_cost_at_most_their_frame():
    for seed in range(400, 460):
        r = Rand(seed)
        payloads, spans, stream, frames_end = _frames(r)
        pos = r.below(frames_end)
        j = _frame_of(spans, pos)
        nxt = spans[j + 1] if j + 1 < len(spans) else frames_end
        count = min(r.between(1, 3), nxt - pos)
        lossy = stream[:pos] + stream[pos + count :]
        shifted = [s if s <= pos else s - count for s in spans]
        rig = Rig(chunk=SPLITS[seed % 3], seed=seed, udp=False)
        rig.feed(lossy)
        rig.pump()
        rig.check_no_escape()
        rig.check_bounded()
        _check_other_frames(rig, payloads, shifted, lossy, j, seed)
        rig.flush()
        rig.check_resynchronised()
