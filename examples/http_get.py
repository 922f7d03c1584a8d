"""HTTP/1.1 GET through the modem with ``slm_mpy.socket``; prints the body's size and SHA-256.

Board: copy ``slm_mpy/``, this file and ``modem_setup.py``. Unix port against the simulator::

    SLM_SIM_PORT=<sim port> HTTP_HOST=127.0.0.1 HTTP_PORT=8000 HTTP_PATH=/file \\
    MICROPYPATH=<repo>:.frozen micropython examples/http_get.py
"""

import hashlib

import slm_mpy.socket as socket
from modem_setup import open_modem, setting

HOST = setting("HTTP_HOST", "example.com")
PORT = int(setting("HTTP_PORT", "80"))
PATH = setting("HTTP_PATH", "/")

open_modem()
addr = socket.getaddrinfo(HOST, PORT)[0][-1]
s = socket.socket()
s.settimeout(30)
s.connect(addr)
s.write(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (PATH.encode(), HOST.encode()))
status = s.readline()
print("status:", status.strip().decode())
length = -1
while True:
    line = s.readline()
    if line in (b"\r\n", b"\n", b""):
        break
    if line.lower().startswith(b"content-length:"):
        length = int(line[15:])
digest = hashlib.sha256()
buf = bytearray(1024)
got = 0
while length < 0 or got < length:
    n = s.readinto(buf, 1024 if length < 0 else min(1024, length - got))
    if not n:
        break  # the server closed the connection
    digest.update(memoryview(buf)[:n])
    got += n
s.close()
print("body bytes:", got)
print("sha256:", "".join("%02x" % b for b in digest.digest()))
