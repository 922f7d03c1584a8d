"""``SLM`` queries loaded on first use (not by ``import slm_mpy``): DNS lookup, read and test
forms, the data-mode flush timer. The methods of :class:`~slm_mpy.modem.SLM` call these.
"""

from .connection import check_host, info_ints
from .errors import EBUSY, EHOSTUNREACH, ATError, check_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def resolve(m: "Any", host: str, family: int) -> "list[str]":
    """:meth:`SLM.resolve <slm_mpy.modem.SLM.resolve>` for modem ``m``."""
    check_host(host)
    check_int("family", family, 0, 2)
    cmd = 'AT#XGETADDRINFO="%s"' % host + (",%d" % family if family else "")
    try:
        lines: "list[str]" = m.command(cmd, 30000)
    except ATError as e:
        why = e.lines[0].split('"')[1] if e.lines and '"' in e.lines[0] else e.line
        raise OSError(EHOSTUNREACH, "cannot resolve %r: %s" % (host, why))
    for line in lines:
        if line.startswith("#XGETADDRINFO:"):
            return line.split('"')[1].split()
    return []


def read_form(m: "Any", name: str) -> "list[int]":
    """The integers of ``AT<name>?``'s reply line."""
    found = None
    for line in m.command("AT%s?" % name, 5000):
        if not line.startswith(name + ":"):
            continue  # an unrelated URC that arrived meanwhile
        try:
            found = info_ints(line)
        except OSError:
            # A URC with the same prefix (e.g. '#XTCPSVR: "ip","connected"') came
            # among the reply lines: hand it on.
            h = m._internal.get(name)
            if h is not None:
                h(line)
    if found is None:
        raise OSError(EBUSY, "no %s line in the reply" % name)
    return found


def syntax(m: "Any", name: str) -> "list[str]":
    """:meth:`SLM.syntax <slm_mpy.modem.SLM.syntax>` for modem ``m``."""
    if not name or name[0] not in "#+%" or not name[1:].isalpha():
        raise ValueError("not a command name: %r" % name)
    lines: "list[str]" = m.command("AT%s=?" % name, 5000)
    return lines


def datamode_pause_ms(m: "Any") -> int:
    """The pause after which SLM flushes its data-mode buffer (``#XDATACTRL`` + margin)."""
    limit = 32
    try:
        for line in m.command("AT#XDATACTRL?", 5000):
            if line.startswith("#XDATACTRL:"):
                v = info_ints(line)
                limit = v[0] if v[0] > v[1] else v[1]
    except OSError:
        pass  # older firmware: keep the 115200-baud default
    return limit + (limit >> 1) + 5
