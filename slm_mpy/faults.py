"""Error paths, loaded the first time something goes wrong (not by ``import slm_mpy``):
a command's timeout message, a reboot in the middle of a frame, a failed connect.
"""

from .engine import _READY, LINE, PAYLOAD
from .errors import EHOSTUNREACH, EIO, host_errno

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .errors import ATError


def timeout_text(e: "Any", cmd: str, timeout_ms: int) -> str:
    """What a command that got no reply in time says (engine ``e``)."""
    if e.state == PAYLOAD and e.ring.room() == 0:
        return "%s: no reply in %d ms (receive buffer full: read the pending data)" % (cmd, timeout_ms)
    return "%s: no reply in %d ms" % (cmd, timeout_ms)


def held_reboot(e: "Any") -> None:
    """The line went quiet with a "Ready" held back: the modem rebooted mid-frame or in data
    mode, or a "Ready" line after a data loss was followed by silence. (A partial banner
    alone proves nothing: it waits for more bytes.)"""
    if e._ready_late:
        e._on_ready()
        return
    ring = e.ring
    e._held = False
    r = ring.buf.find(_READY, ring.head, ring.tail)
    if r < 0:
        return
    if e.state == PAYLOAD:
        if e._pay_sink is not None:
            e._pay_sink.lost("reboot mid-frame")
        e.state = e._resume = LINE
    ring.head = r + 7
    e._on_ready()


def connect_error(exc: "ATError", what: str, host: str) -> OSError:
    """Turn a failed connect (``#X...: <err>,"not connected"`` + ERROR) into an OSError."""
    from .connection import status_error

    for line in exc.lines:
        if line.endswith('"not connected"') or line.endswith('"not started"'):
            err = status_error(line)
            if err > 0:  # DNS_EAI_SYSTEM: a positive errno from the resolver
                return OSError(host_errno(err), "%s: resolving %r failed (errno %d)" % (what, host, err))
            if -12 <= err <= -1 and not (":" in host or host.replace(".", "").isdigit()):  # a name, not an IP
                return OSError(EHOSTUNREACH, "%s: cannot resolve %r (DNS error %d)" % (what, host, err))
            return OSError(host_errno(-err), "%s failed: modem error %d" % (what, err))
    return OSError(EIO, "%s failed: %s" % (what, exc.line))
