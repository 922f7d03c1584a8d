"""TCP server: the modem listens; each client sends a line and gets it back in upper case.

SLM runs one TCP server with one client at a time. ``accept`` waits for the
``#XTCPSVR: "<ip>","connected"`` URC; ``recv``/``send`` then talk to that client, and
``hangup`` (``AT#XTCPHANGUP``) ends the connection while the server keeps listening.

Reaching it from outside needs an LTE subscription with a public (or VPN-routed) IP address;
most consumer SIMs sit behind carrier NAT. Board: copy ``slm_mpy/``, ``modem_setup.py`` (its
``open_uart()`` has the UART pins) and this file; set PORT below. Unix port against the
simulator, which listens on 127.0.0.1:<port> for the modem::

    SLM_SIM_PORT=<sim port> SERVER_PORT=3442 SERVER_CLIENTS=2 \\
    MICROPYPATH=<repo>:.frozen micropython examples/tcp_server.py
    # elsewhere: printf 'hello\\n' | nc 127.0.0.1 3442
"""

import errno

from modem_setup import open_modem, setting

PORT = int(setting("SERVER_PORT", "3442"))
CLIENTS = int(setting("SERVER_CLIENTS", "0"))  # stop after this many clients; 0: never


def read_line(server, limit=1024):
    """Bytes up to and including the first newline (or whatever came before the client left)."""
    line = b""
    while not line.endswith(b"\n") and len(line) < limit:
        piece = server.recv(limit - len(line), timeout_ms=10000)
        if not piece:  # b"": the client closed its side
            break
        line += piece
    return line


modem = open_modem()  # UART, Ready, AT+CFUN=1, wait for +CEREG registration
server = modem.tcp_server(PORT)  # AT#XTCPSVR=1,<port>
print("listening on TCP port %d" % PORT)
served = 0
try:
    while not CLIENTS or served < CLIENTS:
        try:
            peer = server.accept(timeout_ms=60000)
        except OSError as e:
            if e.errno == errno.ETIMEDOUT:
                continue  # nobody came this minute: keep listening
            raise
        line = read_line(server)
        print("client %s sent %r" % (peer, line))
        if line:
            server.send(line.upper())
        server.hangup()  # the client sees the connection close; the server listens on
        served += 1
        print("client %s done (%d served)" % (peer, served))
finally:
    server.close()  # AT#XTCPSVR=0
print("server stopped")
