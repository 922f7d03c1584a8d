"""Parsing in data mode: loaded by the engine the first time data mode is entered.

While the host streams, SLM sends downlink bytes raw, without frame headers. Protocol inside
that stream: "+++" (the modem lost the connection), "\r\n#XDATAMODE: <n>\r\n" (data mode
ended) and "#XTCPDATA"/"#XUDPDATA" frames that SLM writes around its mode switches. A tail
that could start one of these patterns is held back until more bytes arrive.
"""

from .engine import _CRLF_X, _is_prefix, _DM_URC, _DM_URC_LEN, _LF, _QUIT, _TCPDATA, _UDPDATA, DATAMODE, MAX_CHUNK, parse_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def parse(e: "Any") -> bool:
    """The engine's DATAMODE state: one step over ``e.ring``; False when it must wait."""
    ring = e.ring
    buf = ring.buf
    head = ring.head
    tail = ring.tail
    q = buf.find(_QUIT, head, tail)
    u = buf.find(_CRLF_X, head, tail)
    while u >= 0 and (q < 0 or u < q):
        if buf.startswith(_DM_URC, u):
            return _end(e, u, head)
        kind = _frame_at(e, u, tail)
        if kind:
            nl = buf.find(_LF, u + 2, tail)
            if kind < 0:  # cannot tell yet: hand over what precedes it
                return _deliver(e, head, u - head) and False
            if not _deliver(e, head, u - head):
                return False
            ring.head = nl + 1
            e._resume = DATAMODE
            udp = kind == 2
            e._on_header(u + 13, nl - 1 if buf[nl - 1] == 13 else nl, e.udp if udp else e.tcp, udp)
            return True
        u = buf.find(_CRLF_X, u + 1, tail)
    if q >= 0:
        if q > head:
            return _deliver(e, head, q - head)
        # "+++" at the head: decide what it was from what follows it.
        if tail - head < 3 + _DM_URC_LEN and _is_prefix(buf, head + 3, tail, _DM_URC):
            e.dm_quit = True  # wait: #XDATAMODE may be on its way
            return False
        if buf.startswith(_DM_URC, head + 3):
            e.dm_quit = True
            return _end(e, head + 3, head + 3)
        # More bytes after "+++": the modem kept sending, so it was data.
        e.dm_quit = False
        return _deliver(e, head, 3)
    end = tail - _held_back(buf, head, tail)
    end = head + e.ready_cut(head, end - head, -1)  # a reboot's banner is held too
    if end > head:
        return _deliver(e, head, end - head)
    return False

def _frame_at(e: "Any", u: int, tail: int) -> int:
    # At u starts "\r\n#X". Returns 1 for a real #XTCPDATA frame, 2 for #XUDPDATA, -1 if
    # too few bytes to tell yet, 0 for payload bytes that only look like protocol.
    # SLM decides "header or raw" per write, racing with its mode switches, so a frame
    # can show up right after data mode began or ended. The payload may carry fake
    # headers: a header counts only if its n bytes are followed by the next
    # "\r\n#"/"+"/"%" line, as SLM's own output would be.
    buf = e.ring.buf
    if tail - u < _DM_URC_LEN and _is_prefix(buf, u, tail, _DM_URC):
        return -1
    if tail - u < 13:
        return -1 if _is_prefix(buf, u + 2, tail, _TCPDATA) or _is_prefix(buf, u + 2, tail, _UDPDATA) else 0
    kind = 1 if buf.startswith(_TCPDATA, u + 2) else 2 if buf.startswith(_UDPDATA, u + 2) else 0
    if not kind:
        return 0
    nl = buf.find(_LF, u + 13, tail)
    if nl < 0:
        return -1 if tail - u < 64 else 0
    n = parse_int(buf, u + 13, nl, e._at)
    if e._at[0] == u + 13 or n <= 0 or n > MAX_CHUNK:
        return 0
    if e._dm_fresh and u == e.ring.head:
        return kind  # first bytes after OK: SLM wrote this frame before switching
    p = nl + 1 + n
    if p + 3 > tail:
        # Wait for the bytes after the payload, if the buffer can hold them at all.
        return -1 if p + 3 - e.ring.head <= e.ring.size else 0
    return kind if buf[p] == 13 and buf[p + 1] == 10 and buf[p + 2] in b"#+%" else 0

def _deliver(e: "Any", start: int, n: int) -> bool:
    if n:
        e._dm_fresh = False
    sink = e.dm_sink
    k = sink.feed(e.ring.mv, start, n) if sink is not None else n
    e.ring.head = start + k
    e.sink_full = k < n
    return k == n

def _end(e: "Any", u: int, head: int) -> bool:
    # Everything before the URC is downlink data; hand it over first.
    if u > head and not _deliver(e, head, u - head):
        return False
    ring = e.ring
    buf = ring.buf
    nl = buf.find(_LF, u + _DM_URC_LEN, ring.tail)
    if nl < 0:
        return False
    v = parse_int(buf, u + _DM_URC_LEN, nl, e._at)
    j = e._at[0]
    quit_at = u - 3
    if e.dm_quit and v == 0 and quit_at >= ring.head and buf.startswith(_QUIT, quit_at):
        # A clean exit after "+++": those three bytes were downlink data after all.
        _deliver(e, quit_at, 3)
    ring.head = nl + 1
    e.dm_result = v if j > u + _DM_URC_LEN else -5
    e._end_datamode()
    return True


def _held_back(buf: "Any", head: int, tail: int) -> int:
    # How many trailing bytes might start "+++" or "\r\n#XDATAMODE: " and must wait.
    cr: int = buf.find(b"\r", tail - _DM_URC_LEN if tail - _DM_URC_LEN > head else head, tail)
    while cr >= 0:
        if _is_prefix(buf, cr, tail, _DM_URC):
            return tail - cr
        cr = buf.find(b"\r", cr + 1, tail)
    n = 0
    while n < 2 and tail - n > head and buf[tail - n - 1] == 43:  # '+'
        n += 1
    return n
