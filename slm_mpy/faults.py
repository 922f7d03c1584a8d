"""Error paths, loaded the first time something goes wrong (not by ``import slm_mpy``):
a command that timed out and the resynchronisation after it, a reboot in the middle of a
frame, a failed connect.
"""

from .engine import _QUIT, _READY, LINE, PAYLOAD
from .errors import EHOSTUNREACH, EIO, host_errno, timeout_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .errors import ATError


def abandon(e: "Any", timeout_ms: int) -> OSError:
    """:meth:`Engine.abandon <slm_mpy.engine.Engine.abandon>` for engine ``e``."""
    cmd = e._busy or ""
    if e._cmd_dm is not None:
        e._dm_unsure = True
    e._unquote = e._marker is not None and not e._unquote
    if e._marker is not None:
        e._probe_late = True  # a probe without its reply: it may be slow, not swallowed
    e._cmd = None
    e._busy = None
    e._cmd_dm = None
    e._text = None
    e._marker = None
    e._desync = True
    if e.state == PAYLOAD and e.tail - e.head == e.rxsize:
        return timeout_error("%s: no reply in %d ms (receive buffer full: read the pending data)" % (cmd, timeout_ms))
    return timeout_error("%s: no reply in %d ms" % (cmd, timeout_ms))


def probe(e: "Any") -> None:
    """Start a probe instead of the command: an earlier command timed out (engine ``e``).

    Its reply may still come. SLM answers commands in order: finals that arrive before the
    probe's own information line are stale, and once the probe's OK came ``finish`` sends
    the real command.
    """
    if e._dm_unsure or e._unquote:
        # If a lost OK left SLM in data mode, "+++" ends it; in command mode SLM drops the
        # bytes in front of "AT" (NCS >= 2.5). It goes first, so that nothing below can
        # reach a network peer as data.
        e._dm_unsure = False
        e.write(_QUIT)
    if e._unquote:
        # Binary payload that reached SLM's command line (a reboot mid-send) may have left
        # it inside a quoted string, where CR LF ends nothing. A quote flips that; if the
        # line was not inside quotes, the next failed probe flips it back.
        e.write(b'"\r\n')
    e._send("AT#XSLMVER", None, "#XSLMVER")


def held_reboot(e: "Any") -> None:
    """The line went quiet with a "Ready" held back: the modem rebooted mid-frame or in data
    mode, or a "Ready" line after a data loss was followed by silence. (A partial banner
    alone proves nothing: it waits for more bytes.)"""
    if e._ready_late:
        e._on_ready()
        return
    e._held = False
    r = e.rxbuf.find(_READY, e.head, e.tail)
    if r < 0:
        return
    if e.state == PAYLOAD:
        if e._pay_sink is not None:
            e._pay_sink.lost("reboot mid-frame")
        e.state = e._resume = LINE
    e.head = r + 7
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
