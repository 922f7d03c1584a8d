"""Parsing in data mode: loaded by the engine the first time data mode is entered.

While the host streams, SLM writes downlink bytes raw, without frame headers, so the host
cannot tell payload from protocol by looking at the bytes alone. What SLM itself can write
in data mode is known, and so is when:

* ``+++`` (SLM >= 2.7): the connection was lost. SLM then drops all input and writes nothing
  more until the host sends its own ``+++``; so the modem's ``+++`` is followed by silence or,
  once the host answered, by ``#XDATAMODE``. A ``+++`` with other bytes after it is payload.
* ``\\r\\n#XDATAMODE: <n>\\r\\n``: only after the host sent ``+++`` (``engine.dm_exiting``),
  exactly once, and SLM is in command mode after it: what follows is silence or SLM's next
  message (``\\r\\n#...``, ``\\r\\n+...``, ``\\r\\n%...``). Before the host's ``+++`` that text
  is payload (an echo of the application's own data, say), and so is a copy of it followed by
  anything else: raw bytes, or a second ``#XDATAMODE`` (only the last one can be SLM's).
* ``#XTCPDATA``/``#XUDPDATA`` frames: SLM decides "header or raw" per write, racing with its
  mode switches, so a frame can come first after the ``OK`` that entered data mode, or after
  the host's ``+++`` (before ``#XDATAMODE``). Nowhere else.

A tail that could be the beginning of one of these is held back until more bytes arrive or,
for ``#XDATAMODE`` with nothing after it, until the line has been quiet for ``DM_QUIET_MS``.
"""

from .compat import ticks_diff, ticks_ms
from .engine import _CRLF_X, _is_prefix, _DM_URC, _DM_URC_LEN, _LF, _QUIT, _TCPDATA, _UDPDATA, DATAMODE, MAX_CHUNK, parse_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Silence after a complete "#XDATAMODE" line that makes it SLM's. The bytes of one SLM write
# follow each other on the wire without a gap (a UART's receive interrupt hands them over at
# once; at 115200 baud a byte takes 87 us), so a copy inside downlink data is followed by
# more data first -- unless the network split the data right behind it, which no rule can
# tell apart (see test_datamode.py). Every data-mode exit waits this long once, unless SLM's
# next message is already there: short, since every binary send pays it.
DM_QUIET_MS = 3
_URC_LINE_MAX = 32  # "\r\n#XDATAMODE: -2147483648\r\n" and a margin: a longer line is data


def parse(e: "Any") -> bool:
    """The engine's DATAMODE state: one step over the receive buffer; False when it must wait."""
    buf = e.rxbuf
    head = e.head
    tail = e.tail
    exiting = e.dm_exiting
    fresh = e._dm_fresh
    if exiting or fresh:
        u = buf.find(_CRLF_X, head, tail)
        while u >= 0:
            if not exiting and u > head:
                break  # fresh only: a frame SLM wrote before switching comes first
            if exiting:
                r = _urc_at(e, u, tail)
                if r > 0:
                    return _end(e, u, head)
                if r < 0:  # cannot tell yet: hand over what surely precedes it
                    return _deliver(e, head, _before(buf, head, u) - head) and False
            kind = 0 if buf.startswith(_DM_URC, u) else _frame_at(e, u, tail)
            if kind < 0:
                return _deliver(e, head, _before(buf, head, u) - head) and False
            if kind:
                if not _deliver(e, head, u - head):
                    return False
                nl = buf.find(_LF, u + 13, tail)
                e.head = nl + 1
                e._resume = DATAMODE
                udp = kind == 2
                e._on_header(u + 13, nl - 1 if buf[nl - 1] == 13 else nl, e.udp if udp else e.tcp, udp)
                return True
            u = buf.find(_CRLF_X, u + 1, tail)
    # No decision point before the tail. Hold back what may start one.
    end = tail
    if exiting:
        end = _partial_crlf_x(buf, head, tail)  # "\r", "\r\n" or "\r\n#": SLM may be writing
    elif fresh and tail - head < 4 and _is_prefix(buf, head, tail, _CRLF_X):
        return False  # the beginning of a frame written before the switch, perhaps
    quit_at = -1
    if end == tail:
        if tail - 3 >= head and buf.startswith(_QUIT, tail - 3):
            quit_at = end = tail - 3  # the modem's "+++" if nothing follows it
        else:
            while end > head and tail - end < 2 and buf[end - 1] == 43:  # '+': "+++" may be arriving
                end -= 1
    elif end - 3 >= head and buf.startswith(_QUIT, end - 3):
        end -= 3  # "+++" and the beginning of "\r\n#XDATAMODE" after it
    end = head + e.ready_cut(head, end - head, -1)  # a reboot's banner is held too
    if end == head:
        ok = False
    else:
        # Once bytes went, the held rest may read differently (no longer the first after
        # OK): a True return makes the engine look again. Progress is certain.
        ok = _deliver(e, head, end - head) and end < tail
    if quit_at >= 0:
        # Tell the sender now (it stops streaming into the drop state and sends "+++"). If
        # bytes follow after all, it was payload: the next delivery clears the flag, and the
        # sender's exit ends with "#XDATAMODE: 0" and carries on.
        e.dm_quit = True
    return ok


def _before(buf: "Any", head: int, u: int) -> int:
    # Where the bytes that surely precede the undecided message at u end: a "+++" right
    # before it belongs to the decision (the modem's terminator, then its #XDATAMODE).
    if u - 3 >= head and buf.startswith(_QUIT, u - 3):
        return u - 3
    return u


def _partial_crlf_x(buf: "Any", head: int, tail: int) -> int:
    # Start of a trailing "\r", "\r\n" or "\r\n#" (longer beginnings are found whole), or tail.
    cr: int = buf.find(b"\r", tail - 3 if tail - 3 > head else head, tail)
    while cr >= 0:
        if _is_prefix(buf, cr, tail, _CRLF_X):
            return cr
        cr = buf.find(b"\r", cr + 1, tail)
    return tail


def _urc_at(e: "Any", u: int, tail: int) -> int:
    # At u starts "\r\n#X" and the host has sent "+++". 1: this is SLM's "#XDATAMODE" line;
    # 0: it is not (another message, or payload that looks like it); -1: cannot tell yet.
    buf = e.rxbuf
    if tail - u < _DM_URC_LEN:
        return -1 if _is_prefix(buf, u, tail, _DM_URC) else 0
    if not buf.startswith(_DM_URC, u):
        return 0
    nl = buf.find(_LF, u + _DM_URC_LEN, tail)
    if nl < 0:
        return -1 if tail - u < _URC_LINE_MAX else 0
    if nl - u >= _URC_LINE_MAX:
        return 0
    # What follows decides. SLM is in command mode after its #XDATAMODE: every message it
    # writes begins with CR LF and one of '#', '+', '%'; raw bytes no longer come.
    p = nl + 1
    n = tail - p
    if n >= 3:
        if buf[p] != 13 or buf[p + 1] != 10 or buf[p + 2] not in b"#+%":
            return 0
        if n < _DM_URC_LEN:
            if not _is_prefix(buf, p, tail, _DM_URC):
                return 1
        else:
            return 0 if buf.startswith(_DM_URC, p) else 1  # two of them: only the last is SLM's
    elif not _is_prefix(buf, p, tail, _DM_URC):
        return 0
    # Nothing after it yet, or the beginning of a message: SLM's, unless more bytes come soon.
    return 1 if ticks_diff(ticks_ms(), e._quiet_since) >= DM_QUIET_MS else -1


def _frame_at(e: "Any", u: int, tail: int) -> int:
    # At u starts "\r\n#X", first after data mode began or after the host's "+++". Returns 1
    # for a real #XTCPDATA frame, 2 for #XUDPDATA, -1 if too few bytes to tell yet, 0 for
    # payload bytes that only look like protocol. After "+++" a header counts only if its n
    # bytes are followed by the next "\r\n#"/"\r\n+"/"\r\n%" message, as SLM's own output
    # is (#XDATAMODE at least is still to come).
    buf = e.rxbuf
    if tail - u < 13:
        return -1 if _is_prefix(buf, u + 2, tail, _TCPDATA) or _is_prefix(buf, u + 2, tail, _UDPDATA) else 0
    kind = 1 if buf.startswith(_TCPDATA, u + 2) else 2 if buf.startswith(_UDPDATA, u + 2) else 0
    if not kind:
        return 0
    nl = buf.find(_LF, u + 13, tail)
    if nl < 0:
        return -1 if tail - u < 64 else 0
    at = e._at
    n = parse_int(buf, u + 13, nl, at)
    j = at[0]
    eol = nl - 1 if buf[nl - 1] == 13 else nl
    if j == u + 13 or n <= 0 or n > MAX_CHUNK or (j != eol and not (kind == 2 and buf[j] == 44)):  # ',"ip",port'
        return 0
    if e._dm_fresh and u == e.head:
        return kind  # first bytes after OK: SLM wrote this frame before switching
    p = nl + 1 + n
    if p + 3 > tail:
        # Wait for the bytes after the payload, if the buffer can hold them at all.
        return -1 if p + 3 - e.head <= e.rxsize else 0
    return kind if buf[p] == 13 and buf[p + 1] == 10 and buf[p + 2] in b"#+%" else 0


def _deliver(e: "Any", start: int, n: int) -> bool:
    if n:
        e._dm_fresh = False
        e.dm_quit = False  # bytes went on after a held "+++": it was payload
    sink = e.dm_sink
    k = sink.feed(e.rxmv, start, n) if sink is not None else n
    e.head = start + k
    e.sink_full = k < n
    return k == n


def _end(e: "Any", u: int, head: int) -> bool:
    # SLM's "#XDATAMODE: <n>" at u: data mode is over. Everything before it is downlink
    # data, except a "+++" right before it when n reports an error: that is the modem's
    # terminator (connection lost). After a clean exit (n == 0) a "+++" there was payload.
    buf = e.rxbuf
    nl = buf.find(_LF, u + _DM_URC_LEN, e.tail)
    v = parse_int(buf, u + _DM_URC_LEN, nl, e._at)
    if e._at[0] == u + _DM_URC_LEN:
        v = -5  # unreadable value: report an I/O error rather than success
    stop = u
    if v != 0 and u - 3 >= head and buf.startswith(_QUIT, u - 3):
        stop = u - 3
    if stop > head and not _deliver(e, head, stop - head):
        return False
    if stop < u:
        e.dm_quit = True
    e.head = nl + 1
    e.dm_result = v
    e._end_datamode()
    return True
