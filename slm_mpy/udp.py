"""UDP over SLM's UDP proxy: ``#XUDPCLI``, ``#XUDPSVR``, ``#XUDPSEND``, ``#XUDPDATA``.

Datagrams are queued as records ``[length: 2 bytes][payload]`` in the connection's fixed
buffer, so one ``recv`` returns exactly one datagram. ``#XUDPDATA`` carries the sender's
address from NCS 2.8 on (``,"ip",port``); with older firmware the address is ``None``.
"""

from .compat import ticks_diff, ticks_ms
from .connection import Connection, check_buf, client_command, timeout
from .errors import check_int
from .engine import parse_int
from .errors import EBUSY, EMSGSIZE
from .fifo import ByteQueue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _UDP(Connection):
    _SEND = "AT#XUDPSEND"
    _UDP = True

    def __init__(self, modem: "Any", rx_size: int, timeout_ms: int) -> None:
        check_int("rx_size", rx_size, 64, 0x3FFFFFFF)
        super().__init__(modem, ByteQueue(rx_size if rx_size > 2052 else 2052), timeout_ms)
        self._addrs: "list[Any]" = []  # sender of each queued record, oldest first
        self._addr: "Any" = None
        self._frame = 0  # length of the announced frame; -1: raw data-mode bytes
        self._header_due = False
        self._filling = False  # the newest record is still being written
        self._left = 0  # bytes the newest record still expects
        self._raw = 0  # bytes in the raw data-mode record so far
        self._len = bytearray(2)

    def begin(self, n: int, addr: "Any") -> None:
        if self._frame < 0 and n >= 0:
            self.end_raw()  # a frame right after our "+++": the raw record ends here
        self._header_due = True
        self._frame = n
        self._addr = addr

    def _put_header(self, n: int) -> None:
        self._len[0] = n >> 8
        self._len[1] = n & 255
        self._rx.write(self._len, 0, 2)
        self._addrs.append(self._addr)
        self._header_due = False
        self._filling = True
        self._left = n
        self._raw = 0

    def feed(self, src: "Any", start: int, n: int) -> int:
        rx = self._rx
        if self._header_due:
            # A whole datagram must fit, or we wait for the application to make room.
            if rx.room() < (3 if self._frame < 0 else self._frame + 2):
                return 0
            self._put_header(self._frame if self._frame > 0 else 0)
        k: int = rx.write(src, start, n)
        if self._frame < 0:
            self._raw += k
        else:
            self._left -= k
            if self._left <= 0:
                self._filling = False
        return k

    def end_raw(self) -> None:
        # Data mode ended: the raw bytes collected since it began form one datagram.
        if self._frame >= 0:
            return
        self._frame = 0
        if self._header_due:  # no raw byte arrived
            self._header_due = False
            return
        self._filling = False
        n = self._raw
        rx = self._rx
        at = rx.tail - n - 2
        if n == 0:
            rx.tail = at
            self._addrs.pop()
        else:
            rx.buf[at] = n >> 8
            rx.buf[at + 1] = n & 255

    def _next_len(self, timeout_ms: "int | None") -> int:
        # Length of the next complete datagram, waiting for one; -1 when closed.
        t = self._ms(timeout_ms)
        modem = self._modem
        start = ticks_ms()
        while True:
            queued = len(self._addrs)
            self._readable(2)  # a loss recorded before the next datagram is reported first
            if queued > 1 or (queued and not self._filling):
                rx = self._rx
                return int((rx.buf[rx.head] << 8) | rx.buf[rx.head + 1])
            self._check_lost()
            if self.closed:
                return -1
            if not modem.poll():
                left = t - ticks_diff(ticks_ms(), start)
                if left <= 0:
                    raise timeout("UDP recv", t)
                if modem._polling:
                    raise OSError(EBUSY, "callback")  # nothing can arrive before it returns
                modem.transport.wait(left if left < 20 else 20)

    def recvfrom(self, n: int, timeout_ms: "int | None" = None) -> "tuple[bytes, Any]":
        """Receive one datagram: ``(data, (ip, port))``, address ``None`` on NCS < 2.8.

        A datagram longer than ``n`` stays queued and raises ``OSError(EMSGSIZE)``.
        Returns ``(b"", None)`` once the connection closed and all was read.
        """
        check_int("n", n, 0, 0x3FFFFFFF)
        size = self._next_len(timeout_ms)
        if size < 0:
            return b"", None
        if size > n:
            raise OSError(EMSGSIZE, "next datagram has %d bytes, more than %d" % (size, n))
        rx = self._rx
        rx.head += 2
        data = rx.read(size)
        if rx.head == rx.tail:
            rx.clear()
        self._taken(size + 2)
        return data, self._addrs.pop(0)

    def recv(self, n: int, timeout_ms: "int | None" = None) -> bytes:
        """Receive one datagram of at most ``n`` bytes (see :meth:`recvfrom`)."""
        return self.recvfrom(n, timeout_ms)[0]

    def recv_into(self, buf: "Any", timeout_ms: "int | None" = None) -> int:
        """Receive one datagram into ``buf``; returns its length."""
        n = check_buf(buf)
        size = self._next_len(timeout_ms)
        if size < 0:
            return 0
        if size > n:
            raise OSError(EMSGSIZE, "next datagram has %d bytes, more than %d" % (size, n))
        rx = self._rx
        rx.head += 2
        rx.readinto(buf, size)
        if rx.head == rx.tail:
            rx.clear()
        self._taken(size + 2)
        self._addrs.pop(0)
        return size


class UDPClient(_UDP):
    """A connected UDP (or DTLS, with ``sec_tag``) socket on the modem.

    Example::

        u = modem.udp_client("192.0.2.1", 7)
        u.send(b"ping")
        print(u.recv(1500, timeout_ms=5000))
        u.close()
    """

    _prefix = "#XUDPCLI"
    _close_cmd = "AT#XUDPCLI=0"

    def __init__(
        self,
        modem: "Any",
        host: str,
        port: int,
        sec_tag: "int | None" = None,
        use_dtls_cid: "int | None" = None,
        peer_verify: int = 2,
        hostname_verify: int = 1,
        ipv6: bool = False,
        rx_size: int = 4096,
        timeout_ms: int = 30000,
    ) -> None:
        cmd = client_command("AT#XUDPCLI", host, port, ipv6, peer_verify, hostname_verify)
        if sec_tag is not None:
            cid = 0 if use_dtls_cid is None else check_int("use_dtls_cid", use_dtls_cid, 0, 2)
            cmd += ",%d,%d,%d,%d" % (check_int("sec_tag", sec_tag, 0, 2147483647), cid, peer_verify, hostname_verify)
        elif use_dtls_cid is not None:
            raise ValueError("use_dtls_cid needs a sec_tag (DTLS)")
        super().__init__(modem, rx_size, timeout_ms)
        self.host = self._host = host
        self.port = port
        self._open_cmd = cmd
        self._what = "UDP connect to %s:%d" % (host, port)


class UDPServer(_UDP):
    """SLM's UDP server; ``send`` answers the sender of the last datagram received.

    Example::

        us = modem.udp_server(5683)
        data, addr = us.recvfrom(1024, timeout_ms=60000)
        us.send(data)
    """

    _prefix = "#XUDPSVR"
    _close_cmd = "AT#XUDPSVR=0"

    def __init__(self, modem: "Any", port: int, ipv6: bool = False, rx_size: int = 4096, timeout_ms: int = 30000) -> None:
        check_int("port", port, 0, 65535)
        super().__init__(modem, rx_size, timeout_ms)
        self.port = port
        self._open_cmd = "AT#XUDPSVR=%d,%d" % (2 if ipv6 else 1, port)
        self._what = "UDP server on port %d" % port


def parse_addr(buf: "Any", j: int, e: int) -> "tuple[str, int] | None":
    """Parse ``,"<ip>",<port>`` at ``buf[j:e]`` (the NCS >= 2.8 #XUDPDATA suffix).

    Here rather than in engine.py, which calls it, so TCP-only applications never load it.
    """
    if e - j < 5 or buf[j] != 44 or buf[j + 1] != 34:  # ,"
        return None
    q = buf.find(b'"', j + 2, e)
    if q < 0 or q + 1 >= e or buf[q + 1] != 44:
        return None
    at = [0]
    port = parse_int(buf, q + 2, e, at)
    if at[0] != e or at[0] == q + 2 or port < 0 or port > 65535:
        return None
    try:
        ip = str(memoryview(buf)[j + 2 : q], "utf-8")
    except UnicodeError:
        return None
    return ip, port
