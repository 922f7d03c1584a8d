"""Sending through SLM: quoted-string mode for short text, data mode for everything else.

SLM's data mode has no escape: the byte pattern ``+++`` anywhere in the stream ends it. SLM
holds a trailing ``+`` or ``++`` back and flushes it as data when its inactivity timer fires,
so the sender cuts the payload after the second ``+`` of every run, waits out that timer, and
goes on: the modem never sees three ``+`` in one flush. Pauses happen only where the payload
needs them.
"""

from .compat import ticks_diff, ticks_ms
from .errors import EMSGSIZE, ENOTCONN, host_errno, timeout_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STRING_MAX = 1024  # SLM's limit for AT#XTCPSEND="..." / AT#XUDPSEND="..."
DATAMODE_BUFFER = 4096  # SLM's data-mode buffer: the largest UDP datagram it can send
_CHUNK = 1024
_PLUS = 43


def string_safe(data: "Any") -> bool:
    """True if ``data`` can travel inside ``"..."``: printable ASCII without ``"``."""
    return 0 < len(data) <= STRING_MAX and min(data) > 31 and max(data) < 127 and data.find(b'"') < 0


def send_string(modem: "Any", cmd: str, data: "Any", timeout_ms: int) -> int:
    """``AT#X...SEND="<text>"``; returns the byte count the modem reports."""
    lines = modem.command('%s="%s"' % (cmd, str(data, "ascii")), timeout_ms)
    for line in lines:
        if line.startswith(cmd[2:] + ":"):
            return int(line[line.find(":") + 1 :])
    return len(data)


def send_datamode(modem: "Any", cmd: str, conn: "Any", data: "Any", udp: bool, timeout_ms: int) -> int:
    """Stream ``data`` in data mode through ``cmd`` (``AT#XTCPSEND``/``AT#XUDPSEND``).

    For UDP the whole datagram goes out in one flush, so it may not contain ``+++`` and
    must fit SLM's 4096-byte buffer (``ValueError``/``OSError(EMSGSIZE)`` otherwise).
    Returns ``len(data)``; raises ``OSError`` if the connection is lost meanwhile.
    """
    n = len(data)
    if udp:
        if n > DATAMODE_BUFFER:
            raise OSError(EMSGSIZE, "UDP datagram of %d bytes exceeds SLM's %d-byte buffer" % (n, DATAMODE_BUFFER))
        if data.find(b"+++") >= 0:
            raise ValueError("SLM cannot send a binary UDP datagram containing '+++' (it ends data mode)")
    mv = memoryview(data)
    off = 0
    pause = modem.datamode_pause_ms()  # asked before data mode: no commands inside it
    while True:
        modem.command(cmd, timeout_ms, conn)  # OK: the engine is now in data mode
        off, plus = _stream(modem, data, mv, off, pause, timeout_ms)
        result = _leave(modem, plus, pause, timeout_ms)
        if result != 0:
            conn.lost_in_datamode(result)
            raise OSError(
                host_errno(-result) if result < 0 else ENOTCONN,
                "connection lost in data mode (#XDATAMODE: %d): %d of %d bytes handed to the modem" % (result, off, n),
            )
        if off >= n:
            return n
        # The modem's "+++" was downlink data after all; carry on with the rest.


def _stream(modem: "Any", data: "Any", mv: "Any", off: int, pause: int, timeout_ms: int) -> "tuple[int, int]":
    # Write data[off:] until done or the modem signals the end of data mode; returns the new
    # offset and how many '+' end what the modem may still hold back.
    n = len(data)
    plus = 0  # '+' bytes at the end of what SLM has not flushed yet
    while off < n:
        if modem.dm_quit or modem.dm_result is not None:
            break
        end = off + _CHUNK
        if end > n:
            end = n
        lead = 0
        while lead < 3 and off + lead < n and data[off + lead] == _PLUS:
            lead += 1
        if plus and plus + lead >= 3:
            _pause(modem, pause)
            plus = 0
        # A "+++" starting in this piece (or straddling its end): stop after its second '+'.
        j = data.find(b"+++", off, end + 2 if end + 2 < n else n)
        cut = j >= 0
        if cut:
            end = j + 2
        modem.write(mv[off:end], timeout_ms)
        plus = 0
        while plus < 2 and end - plus > off and data[end - plus - 1] == _PLUS:
            plus += 1
        off = end
        if cut:
            _pause(modem, pause)
            plus = 0
    return off, plus


def _leave(modem: "Any", plus: int, pause: int, timeout_ms: int) -> int:
    # Send the terminator and wait for #XDATAMODE: <n>.
    if plus:
        _pause(modem, pause)  # else our trailing '+' would join the "+++"
    modem.write(b"+++", timeout_ms)
    start = ticks_ms()
    while modem.dm_result is None:
        if not modem.poll():
            if ticks_diff(ticks_ms(), start) > timeout_ms:
                modem.leave_datamode()
                raise timeout_error("no #XDATAMODE after +++ in %d ms" % timeout_ms)
            modem.transport.wait(10)
    return int(modem.dm_result)


def _pause(modem: "Any", ms: int) -> None:
    # Let SLM's inactivity timer flush what it holds; keep receiving meanwhile.
    modem.transport.flush()
    start = ticks_ms()
    while True:
        left = ms - ticks_diff(ticks_ms(), start)
        if left <= 0:
            return
        if not modem.poll():
            modem.transport.wait(left)
