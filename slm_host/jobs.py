"""The common jobs of a bench session, written against slm_mpy's public API.

Each function takes a ready ``SLM`` and a ``say(text)`` callable for progress lines, so the
terminal (or any other host script) decides where the text goes. They raise ``OSError``
(``ATError``, timeouts, connection errors) like the driver does.
"""

from __future__ import annotations

import time
from typing import Callable, List, Optional, Tuple

from slm_mpy import SLM, ATError

Say = Callable[[str], None]

REGISTERED = {1: "registered, home network", 5: "registered, roaming"}
CEREG_STAT = {
    0: "not registered, not searching",
    1: "registered, home network",
    2: "searching",
    3: "registration denied",
    4: "unknown (out of coverage?)",
    5: "registered, roaming",
    90: "not registered: UICC failure",
}


def cereg_fields(line: str) -> List[str]:
    return [f.strip() for f in line.split(":", 1)[1].split(",")] if ":" in line else []


def is_cereg_read_form(line: str) -> bool:
    """``+CEREG: <n>,<stat>,...`` (answer to ``AT+CEREG?``) rather than the URC ``+CEREG: <stat>,"<tac>",...``.

    A URC that arrives while ``AT+CEREG...`` runs comes back among that command's lines, so
    the two forms are told apart by their second field: an integer only in the read form.
    """
    fields = cereg_fields(line)
    return len(fields) >= 2 and fields[1].isdigit()


def cereg_stat(line: str) -> Optional[int]:
    """``<stat>`` of a ``+CEREG`` line in either form."""
    fields = cereg_fields(line)
    index = 1 if is_cereg_read_form(line) else 0
    try:
        return int(fields[index])
    except (IndexError, ValueError):
        return None


def pump(modem: SLM, seconds: float) -> None:
    """Keep the modem polled for ``seconds`` (URC callbacks run meanwhile)."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        if not modem.poll():
            modem.transport.wait(min(20, int(left * 1000) + 1))


def version(modem: SLM, say: Say) -> None:
    """SLM and modem firmware versions, manufacturer, model, IMEI (what the modem answers)."""
    for label, command in (
        ("SLM version", "AT#XSLMVER"),
        ("modem firmware", "AT+CGMR"),
        ("manufacturer", "AT+CGMI"),
        ("model", "AT+CGMM"),
        ("IMEI", "AT+CGSN"),
    ):
        try:
            lines = modem.at(command, 5000)
        except ATError as e:
            say("%-15s (%s: %s)" % (label, command, e.line))
            continue
        say("%-15s %s" % (label, " | ".join(lines) if lines else "(no information)"))


def registration(modem: SLM) -> Optional[int]:
    """The current ``<stat>`` from ``AT+CEREG?``."""
    return registration_from(modem.at("AT+CEREG?", 5000), None)


def registration_from(lines: List[str], on_urc: Optional[Callable[[str], None]]) -> Optional[int]:
    """The stat of the read-form line among ``lines``; URCs among them go to ``on_urc``."""
    stat = None
    for line in lines:
        if not line.startswith("+CEREG:"):
            continue
        if is_cereg_read_form(line):
            stat = cereg_stat(line)
        elif on_urc is not None:
            on_urc(line)
    return stat


def attach(modem: SLM, say: Say, timeout_s: float = 180.0, then: Optional[Callable[[str], None]] = None) -> int:
    """``AT+CFUN=1`` and wait for ``+CEREG`` home (1) or roaming (5); returns the stat.

    Turns on ``+CEREG`` URCs (``AT+CEREG=5``, or ``=1`` where 5 is refused) and also asks
    ``AT+CEREG?`` every few seconds, so a missed URC does not stall the wait. Its own
    ``+CEREG`` handler replaces any other for the duration (the URCs are reported through
    ``say``); ``then`` is the handler registered afterwards (none by default). Raises ``OSError(ETIMEDOUT)`` if the modem does not
    register in time.
    """
    seen: List[int] = []

    def on_cereg(line: str) -> None:
        stat = cereg_stat(line)
        if stat is not None:
            seen.append(stat)
            say("network: %s (%s)" % (CEREG_STAT.get(stat, "stat %d" % stat), line))

    modem.on("+CEREG", on_cereg)
    try:
        try:
            lines = modem.at("AT+CEREG=5", 5000)
        except ATError:
            lines = modem.at("AT+CEREG=1", 5000)
        registration_from(lines, on_cereg)
        stat = registration_from(modem.at("AT+CEREG?", 5000), on_cereg)
        if stat is not None and stat in REGISTERED:
            say("already %s" % REGISTERED[stat])
            return stat
        for line in modem.at("AT+CFUN=1", 30000):
            say(line)
        say("AT+CFUN=1: OK, waiting up to %g s for registration" % timeout_s)
        start = time.monotonic()
        asked = start
        while True:
            if seen and seen[-1] in REGISTERED:
                return seen[-1]
            now = time.monotonic()
            if now - start > timeout_s:
                raise OSError(110, "not registered after %g s (last +CEREG stat: %s)" % (timeout_s, seen[-1] if seen else "none"))
            if now - asked > 5:
                asked = now
                stat = registration_from(modem.at("AT+CEREG?", 5000), on_cereg)
                if stat is not None and stat in REGISTERED:
                    say("network: %s (AT+CEREG?)" % REGISTERED[stat])
                    return stat
            pump(modem, 0.05)
    finally:
        modem.on("+CEREG", then)


def status(modem: SLM, say: Say) -> None:
    """Functional mode, registration, signal, and the TCP/UDP proxies; unknown commands skipped."""
    for label, command in (
        ("functional mode", "AT+CFUN?"),
        ("registration", "AT+CEREG?"),
        ("signal", "AT+CESQ"),
        ("monitor", "AT%XMONITOR"),
        ("TCP client", "AT#XTCPCLI?"),
        ("UDP client", "AT#XUDPCLI?"),
    ):
        try:
            lines = modem.at(command, 5000)
        except ATError as e:
            say("%-15s (%s: %s)" % (label, command, e.line))
            continue
        text = " | ".join(lines) if lines else "(no information)"
        if command == "AT+CEREG?":
            stat = registration_from(lines, None)
            if stat is not None:
                text += "  -> " + CEREG_STAT.get(stat, "stat %d" % stat)
        say("%-15s %s" % (label, text))


def tcp_exchange(modem: SLM, host: str, port: int, data: bytes, say: Say, quiet_s: float = 2.0, limit: int = 65536) -> bytes:
    """Connect, send ``data``, collect replies until ``quiet_s`` of silence or the peer closes."""
    got = bytearray()
    with modem.tcp_client(host, port) as c:
        say("connected to %s:%d (handle %d)" % (host, port, c.handle))
        sent = c.send(data) if data else 0
        say("sent %d bytes" % sent)
        while len(got) < limit:
            try:
                chunk = c.recv(4096, timeout_ms=int(quiet_s * 1000))
            except OSError as e:
                if e.errno == 110:  # quiet for quiet_s: done
                    break
                raise
            if not chunk:
                say("peer closed the connection")
                break
            got += chunk
    say("received %d bytes" % len(got))
    return bytes(got)


def udp_exchange(modem: SLM, host: str, port: int, data: bytes, say: Say, wait_s: float = 5.0) -> Tuple[bytes, object]:
    """Send one datagram and wait up to ``wait_s`` for one reply; returns (data, sender)."""
    u = modem.udp_client(host, port)
    try:
        say("sent %d bytes to %s:%d" % (u.send(data), host, port))
        try:
            reply, addr = u.recvfrom(4096, timeout_ms=int(wait_s * 1000))
        except OSError as e:
            if e.errno != 110:
                raise
            say("no reply in %g s" % wait_s)
            return b"", None
        say("received %d bytes%s" % (len(reply), " from %s:%d" % addr if addr else ""))
        return reply, addr
    finally:
        u.close()


def describe(data: bytes) -> str:
    """Received bytes for a terminal: text as text (escapes for the rest), cut at 2 KiB."""
    shown = data[:2048]
    text = shown.decode("utf-8", "backslashreplace")
    out = "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text.replace("\r\n", "\n"))
    return out + ("\n... (%d more bytes)" % (len(data) - 2048) if len(data) > 2048 else "")
