"""UDP client: ping an echo server a few times and measure the round trips.

UDP gives no delivery guarantee, so each reply is awaited with a timeout and a missing one
counts as lost instead of stopping the program. ``recvfrom`` returns one whole datagram and
its sender (``None`` on SLM older than NCS 2.8, which does not report it).

Board: copy ``slm_mpy/``, ``modem_setup.py`` (its ``open_uart()`` has the UART pins) and this
file; set ECHO_HOST and ECHO_UDP_PORT below to a UDP echo server you run (for instance
``socat UDP-RECVFROM:7777,fork EXEC:cat``). Unix port against the simulator::

    SLM_SIM_PORT=<sim port> ECHO_HOST=127.0.0.1 ECHO_UDP_PORT=<port> \\
    MICROPYPATH=<repo>:.frozen micropython examples/udp_client.py
"""

import errno
import sys

from modem_setup import open_modem, setting
from slm_mpy.compat import ticks_diff, ticks_ms  # time.ticks_ms where it exists

HOST = setting("ECHO_HOST", "192.0.2.1")
PORT = int(setting("ECHO_UDP_PORT", "7777"))
COUNT = int(setting("PING_COUNT", "5"))

modem = open_modem()  # UART, Ready, AT+CFUN=1, wait for +CEREG registration
received = 0
with modem.udp_client(HOST, PORT) as conn:  # AT#XUDPCLI=1,"host",port ... AT#XUDPCLI=0
    print("UDP to %s:%d (modem socket %d)" % (HOST, PORT, conn.handle))
    for i in range(1, COUNT + 1):
        ping = b"ping %d" % i
        start = ticks_ms()
        conn.send(ping)  # one datagram
        try:
            reply, sender = conn.recvfrom(1500, timeout_ms=3000)
        except OSError as e:
            if e.errno != errno.ETIMEDOUT:
                raise
            print("%s: no reply (lost)" % ping.decode())
            continue
        if reply != ping:
            print("%s: unexpected reply %r" % (ping.decode(), reply))
            continue
        received += 1
        print("%s: reply from %s in %d ms" % (ping.decode(), sender, ticks_diff(ticks_ms(), start)))
print("%d of %d pings answered" % (received, COUNT))
sys.exit(0 if received == COUNT else 1)
