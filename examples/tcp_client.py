"""TCP client: send text and binary to an echo server and check that it all comes back.

The modem makes the connection (``AT#XTCPCLI``); ``send`` picks the way the bytes travel
(printable text as ``AT#XTCPSEND="..."``, anything else through SLM's data mode, ``+++``
included), and ``recv`` returns what the modem has received so far.

Board: copy ``slm_mpy/``, ``modem_setup.py`` (its ``open_uart()`` has the UART pins) and this
file; set ECHO_HOST and ECHO_TCP_PORT below to a TCP echo server you run (for instance
``socat TCP-LISTEN:7777,fork,reuseaddr EXEC:cat`` on a host with a public address).
Unix port against the simulator and its echo peers::

    SLM_SIM_PORT=<sim port> ECHO_HOST=127.0.0.1 ECHO_TCP_PORT=<port> \\
    MICROPYPATH=<repo>:.frozen micropython examples/tcp_client.py
"""

import sys

from modem_setup import open_modem, setting

HOST = setting("ECHO_HOST", "192.0.2.1")
PORT = int(setting("ECHO_TCP_PORT", "7777"))

MESSAGES = (
    b"Hello over LTE!\n",  # printable: one AT#XTCPSEND="..." command
    b"\x00\x01\x02 binary, with +++ and \r\nOK\r\n inside \xfe\xff",  # goes through data mode
    bytes(range(256)) * 8,  # 2 KiB: several #XTCPDATA frames come back
)


def recv_exactly(conn, n):
    """TCP is a byte stream: the echo may arrive in pieces of any size."""
    data = b""
    while len(data) < n:
        piece = conn.recv(n - len(data), timeout_ms=10000)  # OSError(ETIMEDOUT) if silent
        if not piece:  # b"": the server closed the connection
            break
        data += piece
    return data


modem = open_modem()  # UART, Ready, AT+CFUN=1, wait for +CEREG registration
failures = 0
with modem.tcp_client(HOST, PORT) as conn:  # closed (AT#XTCPCLI=0) at the end of the block
    print("connected to %s:%d (modem socket %d)" % (HOST, PORT, conn.handle))
    for message in MESSAGES:
        conn.send(message)
        echo = recv_exactly(conn, len(message))
        ok = echo == message
        failures += not ok
        print("sent %d bytes, echo %s" % (len(message), "verified" if ok else "DIFFERS: %r" % echo[:60]))
print("closed; %d of %d echoes verified" % (len(MESSAGES) - failures, len(MESSAGES)))
sys.exit(1 if failures else 0)
