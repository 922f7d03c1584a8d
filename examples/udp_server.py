"""UDP server: the modem listens on a port and answers every datagram in upper case.

``recvfrom`` returns one whole datagram and its sender (``None`` on SLM older than NCS 2.8);
``send`` on a UDP server replies to the sender of the last datagram received.

Reaching it from outside needs an LTE subscription with a public (or VPN-routed) IP address.
Board: copy ``slm_mpy/``, ``modem_setup.py`` (its ``open_uart()`` has the UART pins) and this
file; set PORT below. Unix port against the simulator, which binds 127.0.0.1:<port> for the
modem::

    SLM_SIM_PORT=<sim port> SERVER_PORT=5683 SERVER_DATAGRAMS=3 \\
    MICROPYPATH=<repo>:.frozen micropython examples/udp_server.py
    # elsewhere: echo hello | nc -u -w1 127.0.0.1 5683
"""

import errno

from modem_setup import open_modem, setting

PORT = int(setting("SERVER_PORT", "5683"))
DATAGRAMS = int(setting("SERVER_DATAGRAMS", "0"))  # stop after this many datagrams; 0: never

modem = open_modem()  # UART, Ready, AT+CFUN=1, wait for +CEREG registration
server = modem.udp_server(PORT)  # AT#XUDPSVR=1,<port>
print("listening on UDP port %d" % PORT)
answered = 0
try:
    while not DATAGRAMS or answered < DATAGRAMS:
        try:
            data, sender = server.recvfrom(1024, timeout_ms=60000)
        except OSError as e:
            if e.errno == errno.ETIMEDOUT:
                continue  # nothing this minute: keep listening
            raise
        print("from %s: %r" % (sender, data))
        try:
            server.send(data.upper())  # to the sender of the last datagram
        except ValueError as e:  # binary with "+++" cannot cross SLM's data mode
            print("not answered: %s" % e)
            continue
        answered += 1
finally:
    server.close()  # AT#XUDPSVR=0
print("server stopped after %d answers" % answered)
