"""Benchmark cases, run by the MicroPython unix port (``bench/run.py`` starts them).

    micropython -X heapsize=192K bench/cases.py CASE [ARGS...]

Each case drives the driver through its public API (``SLM``, ``at``, ``on``, ``poll``,
``tcp_client``/``udp_client``, ``recv_into``/``recv``/``recvfrom``, ``send``) against a
:class:`memuart.MemUART` holding a pre-recorded modem byte stream, and prints one line
``RESULT {...}`` (JSON) for ``run.py``.

Timing: ``time.ticks_us`` around a loop sized to run for about ``TARGET_US``; the best of
``REPEAT`` runs is kept (the one least disturbed by other processes on the machine).
Allocation: ``gc.mem_alloc()`` before and after a loop run with the collector disabled,
after a warm-up run of the same loop.
"""

import gc
import json
import sys
import time

from memuart import MemUART

ticks_us = time.ticks_us
ticks_diff = time.ticks_diff

HOST = "192.0.2.1"
TARGET_US = 100000
REPEAT = 9
ALLOC_KIB = 16  # payload received per allocation measurement...
ALLOC_FRAMES = 64  # ...but no more frames than this (the collector is off meanwhile)
APP_BUF = 2048  # the application's receive buffer (SLM's largest frame)
_TCP_OPEN = b'AT#XTCPCLI=1,"192.0.2.1",80'
_UDP_OPEN = b'AT#XUDPCLI=1,"192.0.2.1",5000'
_UDP_ADDR = b',"192.0.2.1",5000'


def result(**kw):
    print("RESULT " + json.dumps(kw))


def pattern(n, text=False, kind=bytes):
    """Payload bytes: printable without quotes for ``text``; else binary with no "+++"."""
    b = bytearray(n)
    for i in range(n):
        b[i] = 97 + i % 26 if text else (i * 7 + 3) & 255  # '+' (43) never twice in a row
    return b if kind is bytearray else bytes(b)


def frames(kind, size, min_stream=16384):
    """A stream of whole ``#XTCPDATA``/``#XUDPDATA`` frames; returns (stream, frames, payload)."""
    payload = pattern(size)
    if kind == "udp":
        head = b"\r\n#XUDPDATA: %d" % size + _UDP_ADDR + b"\r\n"
    else:
        head = b"\r\n#XTCPDATA: %d\r\n" % size
    count = max(1, min_stream // (len(head) + size))
    return (head + payload) * count, count, payload


def modem_for(kind, cap=4096):
    """An ``SLM`` on a fresh MemUART, with an open TCP or UDP client (or none)."""
    from slm_mpy import SLM

    u = MemUART(cap)
    u.reply(_TCP_OPEN, b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n')
    u.reply(_UDP_OPEN, b'\r\n#XUDPCLI: 0,"connected"\r\n\r\nOK\r\n')
    u.reply(b"AT#XDATACTRL?", b"\r\n#XDATACTRL: 2,2\r\n\r\nOK\r\n")
    m = SLM(u)
    if kind == "udp":
        c = m.udp_client(HOST, 5000)
    elif kind == "tcp":
        c = m.tcp_client(HOST, 80)
    else:
        c = None
    return m, u, c


def best_of(fn, n):
    """Scale the repeat count ``n`` until ``fn(n)`` takes about TARGET_US; the best of REPEAT."""
    while True:
        gc.collect()
        t = fn(n)
        if t >= TARGET_US // 4 or n > 1 << 24:
            break
        n *= 4
    if t < TARGET_US:
        n = n * TARGET_US // (t or 1) + 1
    best = None
    for _ in range(REPEAT):
        gc.collect()
        t = fn(n)
        if best is None or t < best:
            best = t
    return best, n


def allocated(fn, arg):
    """Bytes allocated by ``fn(arg)`` after a warm-up call, collector off; None if the heap
    ran out meanwhile."""
    fn(arg)
    gc.collect()
    gc.disable()
    try:
        a = gc.mem_alloc()
        fn(arg)
        return gc.mem_alloc() - a
    except MemoryError:
        return None
    finally:
        gc.enable()


# --------------------------------------------------------------------------- the fake UART


def _traffic(u, buf, part, cmd, dm, n):
    # A plain function: a closure with more than five captured names and arguments would
    # allocate (and free) an argument array on every call, which heap_lock reports.
    for _ in range(n):
        u.readinto(buf)
        u.readinto(part)
        u.write(cmd)
        u.readinto(buf)
        u.write(b"AT#XTCPSEND\r\n")
        u.readinto(buf)
        u.write(dm)
        u.write(b"+++")
        u.readinto(buf)


def case_memuart():
    """The fake UART's own allocation per readinto/write (must be 0), also under heap_lock."""
    import micropython

    stream, _, _ = frames("tcp", 1024)
    u = MemUART()
    u.load(stream, loop=True)
    buf = bytearray(APP_BUF)
    args = (u, buf, memoryview(buf)[100:612], b"AT+CFUN?\r\n", memoryview(pattern(512)))
    _traffic(args[0], args[1], args[2], args[3], args[4], 200)  # warm-up
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    _traffic(args[0], args[1], args[2], args[3], args[4], 200)
    per_call = (gc.mem_alloc() - a) / (200 * 9)
    gc.enable()
    err = None
    micropython.heap_lock()
    try:
        _traffic(args[0], args[1], args[2], args[3], args[4], 200)
    except MemoryError as e:
        err = e
    finally:
        micropython.heap_unlock()
    result(case="memuart", alloc_per_call=per_call, heap_lock=_where(err))


# --------------------------------------------------------------------------- downlink


def _receiver(method, c):
    # A loop that receives ``total`` payload bytes through ``method``; returns the count.
    buf = bytearray(APP_BUF)

    if method == "recv_into":

        def run(total):
            got = 0
            while got < total:
                got += c.recv_into(buf)
            return got

    elif method == "recv":

        def run(total):
            got = 0
            while got < total:
                got += len(c.recv(APP_BUF))
            return got

    else:

        def run(total):
            got = 0
            while got < total:
                got += len(c.recvfrom(APP_BUF)[0])
            return got

    return run


def _check_payload(c, method, payload):
    # The first bytes must come out as sent, or the figures mean nothing.
    if method == "recv_into":
        buf = bytearray(APP_BUF)
        data = buf[: c.recv_into(buf)]
    elif method == "recv":
        data = c.recv(APP_BUF)
    else:
        data = c.recvfrom(APP_BUF)[0]
    size = len(payload)
    assert data and data == (payload * (len(data) // size + 1))[: len(data)], method + " corrupted the payload"


def _alloc_loop(c, method, total, out, buf):
    # Receive ``total`` payload bytes. out: [calls, bytes, heap cost of the returned bytes
    # objects (from the block formula: nothing here may allocate but the driver)].
    calls = 0
    got = 0
    returned = 0
    if method == "recv_into":
        while got < total:
            got += c.recv_into(buf)
            calls += 1
    else:
        head = _HEAD
        block = _BLOCK
        udp_from = method == "recvfrom"
        while got < total:
            data = c.recvfrom(APP_BUF)[0] if udp_from else c.recv(APP_BUF)
            k = len(data)
            if k:
                returned += head + (k + block) // block * block
            got += k
            calls += 1
    out[0] = calls
    out[1] = got
    out[2] = returned


def _measure_bytes_cost():
    # A bytes object of length k >= 1 costs HEAD + ceil((k + 1) / BLOCK) * BLOCK heap bytes
    # (object header, then the data with its terminating NUL in whole GC blocks). Find HEAD
    # and BLOCK on this port, and check the formula against direct measurements.
    def cost(k):
        src = memoryview(bytearray(k))
        gc.collect()
        gc.disable()
        a = gc.mem_alloc()
        x = bytes(src)
        v = gc.mem_alloc() - a
        gc.enable()
        del x
        return v

    c1 = cost(1)
    block = 1
    while cost(block) == c1:
        block += 1
    head = c1 - block
    for k in (1, 31, 63, 64, 100, 512, 1023, 1024, 2048):
        assert cost(k) == head + (k + block) // block * block, "bytes cost formula fails at %d" % k
    return head, block


_HEAD, _BLOCK = _measure_bytes_cost()


def _alloc_figures(c, method, size):
    # Heap per KiB received (16 KiB, at most 64 frames), and what is left after subtracting
    # the bytes objects recv/recvfrom return to the application.
    total = ALLOC_KIB * 1024
    if total > ALLOC_FRAMES * size:
        total = ALLOC_FRAMES * size
    out = [0, 0, 0]
    buf = bytearray(APP_BUF)
    _alloc_loop(c, method, total, out, buf)  # warm-up
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    _alloc_loop(c, method, total, out, buf)
    d = gc.mem_alloc() - a
    gc.enable()
    calls, got, returned = out
    kib = got / 1024
    nframes = got / size
    return {
        "alloc_per_kib": d / kib,
        "alloc_per_frame": d / nframes,
        "returned_per_kib": returned / kib,
        "overhead_per_kib": (d - returned) / kib,
        "overhead_per_frame": (d - returned) / nframes,
        "overhead_per_call": (d - returned) / calls,
        "calls": calls,
        "received": got,
    }


def case_downlink(kind, size, method):
    """Payload bytes/s through ``method`` for frames of ``size`` bytes, the copy limit of the
    same stream, and heap allocated per KiB received."""
    size = int(size)
    stream, count, payload = frames(kind, size)
    m, u, c = modem_for(kind)
    u.load(stream, loop=True)
    _check_payload(c, method, payload)
    run = _receiver(method, c)
    per_loop = size * count  # payload bytes per pass over the recorded stream
    run(per_loop)  # warm-up
    got = [0]

    def timed(loops):
        t0 = ticks_us()
        got[0] = run(per_loop * loops)
        return ticks_diff(ticks_us(), t0)

    t, _ = best_of(timed, 16)
    driver_bps = got[0] * 1000000 // t

    # The copy limit: nothing but readinto of the same stream into a buffer of the same size.
    u2 = MemUART()
    u2.load(stream, loop=True)
    cbuf = bytearray(APP_BUF)

    def copy(loops):
        need = len(stream) * loops
        t0 = ticks_us()
        done = 0
        while done < need:
            done += u2.readinto(cbuf)
        return ticks_diff(ticks_us(), t0)

    ct, cloops = best_of(copy, 16)
    copy_bps = per_loop * cloops * 1000000 // ct  # the payload those stream bytes carry
    del u2, cbuf, copy
    fig = _alloc_figures(c, method, size)
    result(
        case="downlink",
        kind=kind,
        size=size,
        method=method,
        driver_Bps=driver_bps,
        copy_Bps=copy_bps,
        ratio=driver_bps / copy_bps,
        stream_errors=m.garbage_lines + m.overlong_lines,  # lines the parser could not read
        **fig
    )


def case_alloc(kind, size, method, cap):
    """Only the allocation figures of ``case_downlink``, with UART reads capped at ``cap``."""
    size = int(size)
    stream, _, payload = frames(kind, size)
    m, u, c = modem_for(kind, int(cap))
    u.load(stream, loop=True)
    _check_payload(c, method, payload)
    fig = _alloc_figures(c, method, size)
    result(case="alloc", kind=kind, size=size, method=method, cap=int(cap), stream_errors=m.garbage_lines + m.overlong_lines, **fig)


def _where(err):
    # "ok", or the innermost-first call chain of a MemoryError raised under heap_lock.
    if err is None:
        return "ok"
    import io

    s = io.StringIO()
    sys.print_exception(err, s)
    lines = [ln.strip() for ln in s.getvalue().split("\n") if ln.strip().startswith("File")]
    return " <- ".join(reversed(lines)) or repr(err)


def case_heaplock(kind, size, method, cap):
    """Receive 16 KiB (at most 64 frames) under ``micropython.heap_lock()`` after a warm-up:
    "ok", or where the driver allocated first. ``cap`` 0: the UART hands out one whole frame
    per read (header and payload together, never split).

    heap_lock does not stop exception objects (they fall back to a preallocated one), so the
    collector-off ``gc.mem_alloc`` delta is reported as well.
    """
    import micropython

    size = int(size)
    cap = int(cap)
    stream, count, payload = frames(kind, size)
    whole = cap == 0
    if whole:  # exactly one whole frame per UART read
        cap = len(stream) // count
    m, u, c = modem_for(kind, cap)
    u.load(stream, loop=True)
    _check_payload(c, method, payload)
    total = ALLOC_KIB * 1024
    if total > ALLOC_FRAMES * size:
        total = ALLOC_FRAMES * size
    out = [0, 0, 0]
    buf = bytearray(APP_BUF)
    _alloc_loop(c, method, total, out, buf)  # warm-up
    err = None
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    micropython.heap_lock()
    try:
        _alloc_loop(c, method, total, out, buf)
    except MemoryError as e:
        err = e
    finally:
        micropython.heap_unlock()
    d = gc.mem_alloc() - a
    gc.enable()
    result(case="heaplock", kind=kind, size=size, method=method, cap=cap, whole_frames=whole, heap_lock=_where(err), alloc=d)


# --------------------------------------------------------------------------- uplink


def case_uplink(label, size, text, plus_every):
    """CPU time of one ``send`` and its wire cost; the fake UART counts pauses, data-mode
    sessions and quoted-string commands."""
    size = int(size)
    plus_every = int(plus_every)
    # The payload first: later, a 64 KiB block may no longer be free in one piece.
    data = pattern(size, text == "text", bytearray)
    if plus_every:
        for at in range(plus_every // 2, size - 3, plus_every):
            data[at : at + 3] = b"+++"
    m, u, c = modem_for("tcp")
    c.send(data)  # warm-up (also asks AT#XDATACTRL? once, where the driver does)
    reps = 3 if plus_every else (200 if size <= 1024 else 20)
    best = None
    for _ in range(reps):
        u.reset_counters()
        gc.collect()
        t0 = ticks_us()
        c.send(data)
        wall = ticks_diff(ticks_us(), t0)
        cpu = wall - u.pause_us
        if best is None or cpu < best[0]:
            best = (cpu, u.wire, u.pauses, u.pause_us, u.sessions, u.strings, u.payload + u.text)
    cpu, wire, pauses, pause_us, sessions, strings, carried = best
    assert carried == size, "SLM would have sent %d of %d payload bytes" % (carried, size)
    alloc = allocated(c.send, data)
    result(
        case="uplink",
        label=label,
        size=size,
        cpu_us=cpu,
        Bps=size * 1000000 // (cpu or 1),
        wire=wire,
        extra_wire=wire - size,
        pauses=pauses,
        pause_ms=m.datamode_pause_ms(),
        pause_us=pause_us,
        sessions=sessions,
        strings=strings,
        alloc=alloc,
    )


# --------------------------------------------------------------------------- commands, URCs

_count = [0, 0]  # URCs dispatched, and how many of them were not the line sent
_URC_LEN = 29


def _urc(line):
    _count[0] += 1
    if len(line) != _URC_LEN:
        _count[1] += 1


def case_command():
    """CPU time and heap per ``modem.at("AT")`` and per dispatched ``+CEREG`` URC."""
    m, u, _ = modem_for(None)

    def ats(n):
        for _ in range(n):
            m.at("AT")

    def timed_at(n):
        t0 = ticks_us()
        ats(n)
        return ticks_diff(ticks_us(), t0)

    t, n = best_of(timed_at, 100)
    at_us = t / n
    at_alloc = allocated(ats, 200) / 200

    line = b'+CEREG: 1,"1285","02EF8210",7'
    u.load((b"\r\n" + line + b"\r\n") * 64, loop=True)
    m.on("+CEREG", _urc)

    def urcs(n):
        _count[0] = 0
        while _count[0] < n:
            m.poll()
        return _count[0]

    def timed_urc(n):
        t0 = ticks_us()
        k = urcs(n)
        return ticks_diff(ticks_us(), t0) * n // k  # a poll may dispatch a few more than n

    t, n = best_of(timed_urc, 640)
    urc_us = t / n
    urcs(640)
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    k = urcs(640)
    d = gc.mem_alloc() - a
    gc.enable()
    # Integrity: every URC line the fake UART served must have been dispatched intact.
    _count[0] = _count[1] = 0
    u.load((b"\r\n" + line + b"\r\n") * 200)
    u.served = 0
    for _ in range(1000):
        m.poll()
    sent = u.served // (len(line) + 4)
    result(
        case="command",
        at_us=at_us,
        at_alloc=at_alloc,
        urc_us=urc_us,
        urc_alloc=d / k,
        urc_sent=sent,
        urc_dispatched=_count[0],
        urc_malformed=_count[1],
        overlong_lines=m.overlong_lines,
    )


CASES = {
    "memuart": case_memuart,
    "downlink": case_downlink,
    "alloc": case_alloc,
    "heaplock": case_heaplock,
    "uplink": case_uplink,
    "command": case_command,
}


def main():
    CASES[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
