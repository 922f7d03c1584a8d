"""Sending through SLM: quoted-string mode for short text, data mode for everything else.

SLM's data mode has no escape: the byte pattern ``+++`` anywhere in the stream ends it. SLM
holds a trailing ``+`` or ``++`` back and flushes it as data when its inactivity timer fires,
so the sender cuts the payload after the second ``+`` of every run, waits out that timer, and
goes on: the modem never sees three ``+`` in one flush. Pauses happen only where the payload
needs them.

The whole data-mode exchange (enter, stream, cut, pause, ``+++``, wait for ``#XDATAMODE``) is
one generator, :func:`datamode_steps`. It does every write and every decision itself and yields
only to say what it waits for; a caller supplies the waiting. :func:`send_datamode` drives it
with blocking waits, ``slm_mpy.aio`` with ``await`` so other tasks run during the pauses.
"""

from .compat import ticks_diff, ticks_ms
from .errors import EIO, EMSGSIZE, ENOBUFS, ENOTCONN, ATError, host_errno, timeout_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Generator, Iterator

STRING_MAX = 1024  # SLM's limit for AT#XTCPSEND="..." / AT#XUDPSEND="..."
DATAMODE_BUFFER = 4096  # SLM's data-mode buffer: the largest UDP datagram it can send
_CHUNK = 1024
_PLUS = 43
_DATAMODE = 3  # engine.DATAMODE (not imported: the engine module stays out of this one)

# What datamode_steps yields (besides a positive pause in ms):
READY = 0  # a piece went out; nothing to wait for (an async driver lets other tasks run)
WAIT = -1  # waiting for the modem: poll, and if nothing arrived wait a little


def string_safe(data: "Any") -> bool:
    """True if ``data`` can travel inside ``"..."``: printable ASCII without ``"``."""
    return 0 < len(data) <= STRING_MAX and min(data) > 31 and max(data) < 127 and data.find(b'"') < 0


def string_sent(cmd: str, lines: "list[str]", n: int) -> int:
    """The byte count the modem reports in the reply ``lines`` to ``<cmd>="<text>"`` (else n)."""
    for line in lines:
        if line.startswith(cmd[2:] + ":"):
            try:
                return int(line[line.find(":") + 1 :])
            except ValueError:
                raise OSError(EIO, "unreadable reply from the modem: %r" % line)
    return n


def send_string(modem: "Any", cmd: str, data: "Any", timeout_ms: int) -> int:
    """``AT#X...SEND="<text>"``, written from ``data`` itself (no copy); returns the byte
    count the modem reports."""
    return string_sent(cmd, modem.command(cmd, timeout_ms, None, data), len(data))


def send(conn: "Any", data: "Any", timeout_ms: "int | None") -> int:
    """``Connection.send``: string mode for short printable text, data mode for the rest."""
    data = as_bytes(data)
    t = conn._ms(timeout_ms)
    if conn.closed or conn._released:
        raise OSError(ENOTCONN, "connection closed")
    if not len(data):
        return 0
    modem = conn._modem
    cmd = conn._SEND
    try:
        if string_safe(data):
            sent = 0
            while sent < len(data):
                k = send_string(modem, cmd, memoryview(data)[sent:] if sent else data, t)
                if k <= 0:
                    raise OSError(EIO, "modem sent %d of %d bytes" % (sent, len(data)))
                sent += k
                if conn._UDP:
                    break
            return sent
        return send_datamode(modem, cmd, conn, data, conn._UDP, t)
    except ATError as e:
        # SLM refuses a send with ERROR when its socket is gone (the URC may follow).
        raise OSError(ENOTCONN, "%s refused by the modem (%s): connection gone" % (cmd, e.line))


def send_datamode(modem: "Any", cmd: str, conn: "Any", data: "Any", udp: bool, timeout_ms: int) -> int:
    """Stream ``data`` in data mode through ``cmd`` (``AT#XTCPSEND``/``AT#XUDPSEND``).

    For UDP the whole datagram goes out in one flush, so it may not contain ``+++`` and
    must fit SLM's 4096-byte buffer (``ValueError``/``OSError(EMSGSIZE)`` otherwise).
    Returns ``len(data)``; raises ``OSError`` if the connection is lost meanwhile.
    """
    try:
        for step in datamode_steps(modem, cmd, conn, data, udp, timeout_ms):
            if step > 0:
                pause(modem, step)
            elif step == WAIT:
                exiting = modem.dm_exiting
                if modem.poll():
                    continue
                if modem.sink_full:
                    # What we wait for sits behind received data that nobody reads while
                    # this call blocks: fail now, clearly, instead of after the timeout.
                    if modem.state == _DATAMODE:
                        conn.lost("receive queue full during a data-mode send")
                    raise OSError(ENOBUFS, "receive queue full while sending: read during long sends or raise rx_size")
                if not exiting:
                    modem.transport.wait(10)
                elif modem.dm_exiting:
                    # After our "+++", SLM's #XDATAMODE counts once the line stayed quiet a
                    # few ms behind it (dmrx.DM_QUIET_MS): look again soon.
                    modem.transport.wait(2)
                # else that quiet spell just ended data mode (no byte arrived): go on now
    except BaseException:
        abort(modem)
        raise
    return len(data)


def datamode_steps(modem: "Any", cmd: str, conn: "Any", data: "Any", udp: bool, timeout_ms: int) -> "Iterator[int]":
    """Send ``data`` in data mode, yielding what to wait for before it can go on.

    Yields a pause in ms (> 0: flush the UART, then stay silent that long while receiving),
    ``READY`` (a piece was written; nothing to wait for) or ``WAIT`` (poll the modem, wait a
    little if nothing arrived). Deadlines are checked here. Ends when all of ``data`` was
    handed to the modem and data mode was left cleanly; raises like :func:`send_datamode`.
    A driver that stops early must call :func:`abort`.

    TCP: SLM's inactivity timer flushes a held ``+``/``++`` only if other bytes wait with
    it, so a run of three or more ``+`` cannot cross data mode at all. Such runs (and
    ``+`` at the very end, which would merge with the terminator) go as a quoted string
    between two data-mode passes: no pauses, whatever the payload holds.
    """
    n = len(data)
    if udp:
        if n > DATAMODE_BUFFER:
            raise OSError(EMSGSIZE, "UDP datagram of %d bytes exceeds SLM's %d-byte buffer" % (n, DATAMODE_BUFFER))
        if data.find(b"+++") >= 0:
            raise ValueError("SLM cannot send a binary UDP datagram containing '+++' (it ends data mode)")
    mv = memoryview(data)
    off = 0
    gap = modem.datamode_pause_ms() if udp else 0  # asked before data mode: no commands inside
    while off < n:
        # The data-mode segment ends where a run of '+' starts that SLM would take as "+++".
        end = n if udp else data.find(b"+++", off)
        if end < 0:
            end = n
            while end > off and data[end - 1] == _PLUS:
                end -= 1
        if end > off:
            yield from _command(modem, cmd, conn, timeout_ms)  # OK: the engine is in data mode
            off = yield from _stream(modem, conn, data, mv, off, end, udp, gap, timeout_ms)
        if off < n and data[off] == _PLUS:
            run = off
            while run < n and run - off < STRING_MAX and data[run] == _PLUS:
                run += 1
            lines = yield from _command(modem, cmd, None, timeout_ms, mv[off:run])
            sent = string_sent(cmd, lines, run - off)
            if sent <= 0:
                raise OSError(EIO, "modem sent none of %d bytes" % (run - off))
            off += sent


def _command(modem: "Any", cmd: str, conn: "Any", timeout_ms: int, text: "Any" = None) -> "Generator[int, None, list[str]]":
    # One command without blocking; returns its information lines.
    modem.begin(cmd, conn, text)
    start = ticks_ms()
    while True:
        lines: "list[str] | None" = modem.finish()
        if lines is not None:
            return lines
        if ticks_diff(ticks_ms(), start) > timeout_ms:
            raise modem.abandon(timeout_ms)
        yield WAIT


def _stream(modem: "Any", conn: "Any", data: "Any", mv: "Any", off: int, end: int, udp: bool, gap: int, timeout_ms: int) -> "Generator[int, None, int]":
    # Write data[off:end] in data mode, leave it with "+++"; returns the offset reached.
    start = off
    while off < end:
        if modem.dm_quit or modem.dm_result is not None:
            break  # the modem ended data mode (or sent "+++": see below)
        stop = end if udp else off + _CHUNK
        if stop > end:
            stop = end
        modem.write(mv[off:stop], timeout_ms, DATAMODE_BUFFER if udp else _CHUNK)
        off = stop
        if not udp:
            yield READY  # a UDP datagram must reach SLM without a gap: no yield there
    if udp and data[off - 1] == _PLUS:
        yield gap  # let the timer flush the datagram, else its '+' would join the "+++"
    modem.quit_datamode(timeout_ms)
    t0 = ticks_ms()
    while modem.dm_result is None:
        if ticks_diff(ticks_ms(), t0) > timeout_ms:
            modem.leave_datamode()
            raise timeout_error("no #XDATAMODE after +++ in %d ms" % timeout_ms)
        yield WAIT
    result = int(modem.dm_result)
    if result != 0:
        conn.lost_in_datamode(result)
        raise OSError(
            host_errno(-result) if result < 0 else ENOTCONN,
            "connection lost in data mode (#XDATAMODE: %d): %d of %d bytes handed to the modem" % (result, off - start, end - start),
        )
    # A clean exit: if it came early, the modem's "+++" was downlink data; go on from off.
    return off


def pause(modem: "Any", ms: int) -> None:
    """Let SLM's inactivity timer flush what it holds; keep receiving meanwhile."""
    modem.transport.flush()
    start = ticks_ms()
    while True:
        left = ms - ticks_diff(ticks_ms(), start)
        if left <= 0:
            return
        if not modem.poll():
            modem.transport.wait(left)


def abort(modem: "Any") -> None:
    """Clean up after a data-mode send stopped half-way (exception, task cancelled).

    In data mode: send the terminator and forget data mode (the next command resynchronises).
    Still entering it: give up on the pending command. Otherwise nothing is left to do.
    """
    if modem.state == _DATAMODE:
        modem.transport.flush()
        try:
            modem.quit_datamode(1000)
        finally:
            modem.leave_datamode()
    elif getattr(modem, "_busy", None):
        modem.abandon(0)


def as_bytes(data: "Any") -> "Any":
    """``data`` to send as bytes or bytearray (``str`` is UTF-8); ``ValueError`` otherwise."""
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (bytes, bytearray)):
        return data
    try:
        return bytes(memoryview(data))
    except TypeError:
        raise ValueError("bad data")
