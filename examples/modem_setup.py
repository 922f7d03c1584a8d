"""Shared set-up for the examples: open the modem's UART, wait for SLM, attach to LTE.

On a board (Raspberry Pi Pico wired as in boards/rp2040_pico/README.md) the UART is
UART1 with RTS/CTS. Under the unix port (or CPython) the examples run against the simulator:
set ``SLM_SIM_PORT`` to its port (``python -m slm_sim --listen tcp:127.0.0.1:0``), and the
UART is a TCP connection to it. Copy this file to the board next to the example.
"""

import os

from slm_mpy import SLM
from slm_mpy.compat import ticks_diff, ticks_ms  # time.ticks_ms where it exists (not CPython)


def setting(name, default=None):
    """An environment variable under the unix port; ``default`` on a board (no environment)."""
    getenv = getattr(os, "getenv", None)
    value = getenv(name) if getenv else None
    return default if value is None else value


def open_uart():
    port = setting("SLM_SIM_PORT")
    if port:
        import socket

        s = socket.socket()
        s.connect(socket.getaddrinfo("127.0.0.1", int(port))[0][-1])
        # TCP_NODELAY (IPPROTO_TCP 6, option 1 on Linux): a UART has no Nagle delay. Without
        # it a short write (the "+++" after a few data bytes) can wait 40 ms for an ACK.
        s.setsockopt(6, 1, 1)
        s.setblocking(False)
        return s
    from machine import UART, Pin

    return UART(1, 115200, tx=Pin(4), rx=Pin(5), cts=Pin(6), rts=Pin(7),
                flow=UART.RTS | UART.CTS, rxbuf=4096, timeout=0)


def cereg_stat(line):
    """<stat> of a ``+CEREG`` line: read form ``<n>,<stat>[,...]`` or URC ``<stat>[,"<tac>",...]``."""
    fields = line[7:].split(",")
    if len(fields) > 1 and fields[1].strip().isdigit():
        return int(fields[1])
    return int(fields[0])


def open_modem(attach_timeout_ms=180000):
    """A ready SLM, registered on the network (``AT+CFUN=1``, then ``+CEREG: 1`` or ``5``)."""
    modem = SLM(open_uart())
    modem.wait_ready()
    state = []
    modem.on("+CEREG", lambda line: state.append(cereg_stat(line)))
    modem.at("AT+CEREG=1")
    for line in modem.at("AT+CEREG?"):
        state.append(cereg_stat(line))
    if state[-1] not in (1, 5):
        modem.at("AT+CFUN=1")
    start = ticks_ms()
    while not state or state[-1] not in (1, 5):
        if ticks_diff(ticks_ms(), start) > attach_timeout_ms:
            raise OSError(110, "no LTE registration in %d ms" % attach_timeout_ms)
        modem.poll()
        modem.transport.wait(50)
    return modem
