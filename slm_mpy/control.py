"""Engine code an application calls itself, loaded on its first use (not by ``import slm_mpy``).

``at()`` checks its command here and ``wait_ready()`` runs here; an application that only opens
connections never pays RAM for them.
"""

from .compat import ticks_add, ticks_diff, ticks_ms
from .errors import EBUSY, ModemReset, check_int, timeout_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def wait_ready(e: "Any", timeout_ms: int) -> None:
    """:meth:`Engine.wait_ready <slm_mpy.engine.Engine.wait_ready>` for engine ``e``."""
    if e._polling and not e.ready_seen:
        raise OSError(EBUSY, "callback")
    check_int("timeout_ms", timeout_ms, 0, 0x3FFFFFFF)
    start = ticks_ms()
    probe_at = start
    while True:
        e.poll()
        if e.ready_seen:
            e.ready_seen = False
            return
        now = ticks_ms()
        left = timeout_ms - ticks_diff(now, start)
        if left <= 0:
            raise timeout_error("modem not ready after %d ms" % timeout_ms)
        if ticks_diff(now, probe_at) >= 0:
            try:
                e.command("AT", min(500, left))
                e.ready_seen = False  # a banner that came while the probe ran is this one
                return
            except ModemReset:
                e.ready_seen = False
                return
            except OSError:
                probe_at = ticks_add(ticks_ms(), 500)
        e.transport.wait(5)


def check_command(cmd: str) -> None:
    """Reject what would not reach SLM as exactly one command (no AT injection)."""
    if not isinstance(cmd, str):
        raise ValueError("not a str")
    if len(cmd) < 2 or cmd[:2].upper() != "AT":
        raise ValueError("not an AT command: %r" % cmd)
    inside = False
    for c in cmd:
        if c == '"':
            inside = not inside
        elif (c == "\r" or c == "\n") and not inside:
            raise ValueError("CR/LF outside quotes in %r" % cmd)
    if inside:
        raise ValueError("unbalanced quotes in %r" % cmd)
    if len(cmd) > 4094:
        raise ValueError("command longer than SLM's 4096-byte limit")
