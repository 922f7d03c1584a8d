"""TCP server over SLM's TCP proxy: ``#XTCPSVR``, ``#XTCPHANGUP``, ``#XTCPSEND``, ``#XTCPDATA``.

Created through ``modem.tcp_server(...)``; imported only by applications that use it.
"""

from .compat import byte_queue, ticks_diff, ticks_ms
from .connection import Connection, status_error, timeout
from .errors import EBUSY, ENOTCONN, check_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class TCPServer(Connection):
    """SLM's TCP server: one listening socket, one peer at a time.

    Example::

        srv = modem.tcp_server(3442)
        ip = srv.accept(timeout_ms=60000)
        srv.send(srv.recv(100))
        srv.hangup()
        srv.close()
    """

    _SEND = "AT#XTCPSEND"
    _prefix = "#XTCPSVR"
    _close_cmd = "AT#XTCPSVR=0"

    def __init__(
        self,
        modem: "Any",
        port: int,
        sec_tag: "int | None" = None,
        ipv6: bool = False,
        rx_size: int = 2048,
        timeout_ms: int = 30000,
    ) -> None:
        check_int("port", port, 0, 65535)
        cmd = "AT#XTCPSVR=%d,%d" % (2 if ipv6 else 1, port)
        if sec_tag is not None:
            cmd += ",%d" % check_int("sec_tag", sec_tag, 0, 2147483647)
        super().__init__(modem, byte_queue(check_int("rx_size", rx_size, 64, 0x3FFFFFFF)), timeout_ms)
        self.port = port
        self.peer: "str | None" = None  # IP of the connected peer
        self._peers = 0  # connections announced and not yet accept()ed
        self._open_cmd = cmd
        self._what = "TCP server on port %d" % port

    @property
    def listening(self) -> bool:
        """True while the server runs on the modem."""
        return self.handle >= 0 and not self._released

    def _urc(self, line: str) -> None:
        if line.endswith('","connected"'):
            self.peer = line[line.find('"') + 1 : line.find('",')]
            self.closed = False
            self.error = None
            self._peers += 1
        elif line.endswith('"disconnected"'):
            self.peer = None
            self._gone(status_error(line))
        elif line.endswith('"stopped"'):
            self.handle = -1
            self.peer = None
            self._gone(status_error(line))

    def accept(self, timeout_ms: "int | None" = None) -> str:
        """Wait for a peer to connect; returns its IP address."""
        modem = self._modem
        t = self._ms(timeout_ms)
        start = ticks_ms()
        while not self._peers:
            if not self.listening:
                raise OSError(ENOTCONN, "TCP server is not running")
            if not modem.poll():
                left = t - ticks_diff(ticks_ms(), start)
                if left <= 0:
                    raise timeout("accept", t)
                if modem._polling:
                    raise OSError(EBUSY, "callback")  # nothing can arrive before it returns
                modem.transport.wait(left if left < 20 else 20)
        self._peers -= 1
        return self.peer or ""

    def status(self) -> "tuple[int, int, int]":
        """``AT#XTCPSVR?``: (listen handle, peer handle, family); -1 where none."""
        return self._modem.tcp_server_status()  # type: ignore[no-any-return]

    def hangup(self) -> None:
        """Disconnect the current peer (``AT#XTCPHANGUP``); the server keeps listening."""
        peer = self.status()[1]
        if peer >= 0:
            for line in self._modem.command("AT#XTCPHANGUP=%d" % peer, self.timeout_ms):
                self._urc(line)
        self.peer = None
        self.closed = True
