"""TCP client over SLM's TCP proxy: ``#XTCPCLI``, ``#XTCPSEND``, ``#XTCPDATA``.

SLM runs one TCP proxy at a time, client or server (``tcpserver.py``). Create the objects
through ``modem.tcp_client(...)`` / ``modem.tcp_server(...)``.
"""

from .compat import byte_queue
from .connection import Connection, check_buf, client_command, timeout
from .errors import check_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _TCP(Connection):
    _SEND = "AT#XTCPSEND"
    _prefix = "#XTCPCLI"
    _close_cmd = "AT#XTCPCLI=0"

    def recv_into(self, buf: "Any", timeout_ms: "int | None" = None) -> int:
        """Receive into ``buf``; returns the count, 0 once the peer closed and all was read.

        Raises ``OSError(ETIMEDOUT)`` when nothing arrives within ``timeout_ms``, and
        ``OSError(EIO)`` at the point in the stream where received data was lost;
        ``ValueError`` if ``buf`` cannot be written (``bytes``, a read-only memoryview).
        """
        n = check_buf(buf)
        t = self._ms(timeout_ms)
        rx = self._rx
        if not rx.any():
            self._check_lost()
            if self.closed or not n:
                return 0
            if not self._wait(t):
                raise timeout("recv_into", t)
            if not rx.any():
                self._check_lost()
                return 0
        return self._taken(int(rx.readinto(buf, self._readable(n))))

    def recv(self, n: int, timeout_ms: "int | None" = None) -> bytes:
        """Receive up to ``n`` bytes; ``b""`` once the peer closed and all was read."""
        check_int("n", n, 0, 0x3FFFFFFF)
        t = self._ms(timeout_ms)
        rx = self._rx
        if not rx.any():
            self._check_lost()
            if self.closed:
                return b""
            if not self._wait(t):
                raise timeout("recv", t)
            if not rx.any():
                self._check_lost()
                return b""
        data = bytes(rx.read(self._readable(n)))
        self._taken(len(data))
        return data


class TCPClient(_TCP):
    """A TCP (or TLS, with ``sec_tag``) connection made by the modem.

    Example::

        with modem.tcp_client("example.com", 80) as c:
            c.send(b"GET / HTTP/1.0\\r\\nHost: example.com\\r\\n\\r\\n")
            while True:
                chunk = c.recv(512, timeout_ms=10000)
                if not chunk:
                    break
    """

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
        super().__init__(modem, byte_queue(rx_size), timeout_ms)
        self.host = self._host = host
        self.port = port
        self._open_cmd = cmd
        self._what = "TCP connect to %s:%d" % (host, port)
