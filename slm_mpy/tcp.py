"""TCP client over SLM's TCP proxy: ``#XTCPCLI``, ``#XTCPSEND``, ``#XTCPDATA``.

SLM runs one TCP proxy at a time, client or server (``tcpserver.py``). Create the objects
through ``modem.tcp_client(...)`` / ``modem.tcp_server(...)``.
"""

from .compat import byte_queue
from .connection import Connection, client_command
from .errors import check_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class TCPClient(Connection):
    """A TCP (or TLS, with ``sec_tag``) connection made by the modem.

    Example::

        with modem.tcp_client("example.com", 80) as c:
            c.send(b"GET / HTTP/1.0\\r\\nHost: example.com\\r\\n\\r\\n")
            while True:
                chunk = c.recv(512, timeout_ms=10000)
                if not chunk:
                    break
    """

    _SEND = "AT#XTCPSEND"
    _prefix = "#XTCPCLI"
    _close_cmd = "AT#XTCPCLI=0"

    def __init__(
        self,
        modem: "Any",
        host: str,
        port: int,
        sec_tag: "int | None" = None,
        peer_verify: int = 2,
        hostname_verify: int = 1,
        ipv6: bool = False,
        rx_size: int = 2048,
        timeout_ms: int = 30000,
    ) -> None:
        cmd = client_command("AT#XTCPCLI", host, port, ipv6, peer_verify, hostname_verify)
        if sec_tag is not None:
            cmd += ",%d,%d,%d" % (check_int("sec_tag", sec_tag, 0, 2147483647), peer_verify, hostname_verify)
        super().__init__(modem, byte_queue(check_int("rx_size", rx_size, 64, 0x3FFFFFFF)), timeout_ms)
        self.host = self._host = host
        self.port = port
        self._open_cmd = cmd
        self._what = "TCP connect to %s:%d" % (host, port)
