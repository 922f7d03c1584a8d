"""``SLM``: the engine plus factories for SLM's TCP and UDP proxies.

The TCP and UDP modules are imported on first use, so an application that only needs TCP
never pays RAM for the UDP code.
"""

from .engine import Engine
from .errors import EBUSY

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class SLM(Engine):
    """Driver for an nRF91 running Serial LTE Modem firmware.

    Example::

        from machine import UART, Pin
        from slm_mpy import SLM

        uart = UART(1, 115200, tx=Pin(4), rx=Pin(5), cts=Pin(6), rts=Pin(7),
                    flow=UART.RTS | UART.CTS, timeout=0, rxbuf=4096)
        modem = SLM(uart)
        modem.wait_ready()
        modem.at("AT+CFUN=1")
        with modem.tcp_client("example.com", 80) as c:
            c.send(b"HEAD / HTTP/1.0\\r\\n\\r\\n")
            print(c.recv(200, timeout_ms=10000))
    """

    def __init__(self, uart: "Any", rx_size: int = 2560) -> None:
        super().__init__(uart, rx_size)
        _default[0] = self  # default_modem()

    # --- proxies (one TCP and one UDP at a time, as SLM allows)

    def _free_slot(self, current: "Any", kind: str) -> None:
        if current is None:
            return
        if current.closed and not current._released:
            current.close()  # remote close: NCS >= 2.7 wants AT#X...=0 before a new start
        elif not current._released:
            raise OSError(EBUSY, "SLM runs one %s proxy at a time: close the open one first" % kind)

    def tcp_client(self, host: str, port: int, sec_tag: "int | None" = None, peer_verify: int = 2, hostname_verify: int = 1, ipv6: bool = False, **kw: "Any") -> "Any":
        """Connect the modem's TCP proxy (TLS with ``sec_tag``); returns a ``TCPClient``."""
        from .tcp import TCPClient

        c = TCPClient(self, host, port, sec_tag, peer_verify, hostname_verify, ipv6, **kw)
        self._free_slot(self.tcp, "TCP")
        c.open()
        return c

    def tcp_server(self, port: int, sec_tag: "int | None" = None, ipv6: bool = False, **kw: "Any") -> "Any":
        """Start the modem's TCP server; returns a ``TCPServer``."""
        from .tcpserver import TCPServer

        c = TCPServer(self, port, sec_tag, ipv6, **kw)
        self._free_slot(self.tcp, "TCP")
        c.open()
        return c

    def udp_client(self, host: str, port: int, sec_tag: "int | None" = None, use_dtls_cid: "int | None" = None, peer_verify: int = 2, hostname_verify: int = 1, ipv6: bool = False, **kw: "Any") -> "Any":
        """Open the modem's connected UDP socket (DTLS with ``sec_tag``); returns a ``UDPClient``."""
        from .udp import UDPClient

        c = UDPClient(self, host, port, sec_tag, use_dtls_cid, peer_verify, hostname_verify, ipv6, **kw)
        self._free_slot(self.udp, "UDP")
        c.open()
        return c

    def udp_server(self, port: int, ipv6: bool = False, **kw: "Any") -> "Any":
        """Start the modem's UDP server; returns a ``UDPServer``."""
        from .udp import UDPServer

        c = UDPServer(self, port, ipv6, **kw)
        self._free_slot(self.udp, "UDP")
        c.open()
        return c

    def resolve(self, host: str, family: int = 0) -> "list[str]":
        """DNS lookup through the modem (``AT#XGETADDRINFO``); family 0 any, 1 IPv4, 2 IPv6.

        Returns the addresses as strings; raises ``OSError(EHOSTUNREACH)`` if the name
        does not resolve.
        """
        from .query import resolve  # loaded on first use, like the other queries below

        return resolve(self, host, family)

    # --- read forms, parsed

    def _read_form(self, name: str) -> "list[int]":
        from .query import read_form

        return read_form(self, name)

    def tcp_client_status(self) -> "tuple[int, int]":
        """``AT#XTCPCLI?``: (handle, family); handle -1 when not connected, family 1 IPv4 / 2 IPv6."""
        v = self._read_form("#XTCPCLI")
        return v[0], v[1]

    def tcp_server_status(self) -> "tuple[int, int, int]":
        """``AT#XTCPSVR?``: (listen handle, peer handle, family); -1 where none."""
        v = self._read_form("#XTCPSVR")
        return v[0], v[1], v[2]

    def udp_client_status(self) -> "tuple[int, int]":
        """``AT#XUDPCLI?``: (handle, family)."""
        v = self._read_form("#XUDPCLI")
        return v[0], v[1]

    def udp_server_status(self) -> "tuple[int, int]":
        """``AT#XUDPSVR?``: (handle, family)."""
        v = self._read_form("#XUDPSVR")
        return v[0], v[1]

    def syntax(self, name: str) -> "list[str]":
        """The test form ``AT<name>=?``, e.g. ``syntax("#XTCPCLI")``; returns its lines."""
        from .query import syntax

        return syntax(self, name)

    # --- data mode timing

    def datamode_pause_ms(self) -> int:
        """How long to stay silent so SLM flushes its data-mode buffer (``#XDATACTRL`` + margin)."""
        if not self._pause_ms:
            from .query import datamode_pause_ms

            self._pause_ms = datamode_pause_ms(self)
        return self._pause_ms


_default: "list[Any]" = [None]


def default_modem() -> "Any":
    """The most recently created ``SLM`` (used by ``slm_mpy.socket``)."""
    return _default[0]
