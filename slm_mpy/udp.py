"""UDP over SLM's UDP proxy: ``#XUDPCLI``, ``#XUDPSVR``, ``#XUDPSEND``, ``#XUDPDATA``.

Datagram payloads follow each other in the connection's byte queue (``micropython.RingIO``
where the port has it); their lengths and senders are kept in two lists, so one ``recv``
returns exactly one datagram. ``#XUDPDATA`` carries the sender's
address from NCS 2.8 on (``,"ip",port``); with older firmware the address is ``None``.
"""

from .compat import byte_queue, ticks_diff, ticks_ms
from .connection import Connection, check_buf, client_command, timeout
from .engine import MAX_CHUNK, parse_int
from .errors import EBUSY, EMSGSIZE, check_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _UDP(Connection):
    _SEND = "AT#XUDPSEND"
    _UDP = True

    def __init__(self, modem: "Any", rx_size: int, timeout_ms: int) -> None:
        check_int("rx_size", rx_size, 64, 0x3FFFFFFF)
        size = rx_size if rx_size > MAX_CHUNK else MAX_CHUNK  # the largest datagram must fit
        super().__init__(modem, byte_queue(size), timeout_ms)
        self._size = size
        # Length and sender of each queued datagram, oldest first; the payloads follow each
        # other in the byte queue. The newest may still be filling.
        self._lens: "list[int]" = []
        self._addrs: "list[Any]" = []
        self._addr: "Any" = None
        self._frame = 0  # length of the announced frame; -1: raw data-mode bytes
        self._header_due = False
        self._filling = False  # the newest datagram is still being written
        self._left = 0  # bytes the newest datagram still expects
        self._cut = -1  # bytes of a datagram cut short by a loss, dropped once it is reported

    def begin(self, n: int, addr: "Any") -> None:
        if self._frame < 0 and n >= 0:
            self.end_raw()  # a frame right after our "+++": the raw datagram ends here
        self._header_due = True
        self._frame = n
        self._addr = addr

    def feed(self, src: "Any", start: int, n: int) -> int:
        rx = self._rx
        frame = self._frame
        if self._header_due:
            # A whole datagram must fit, or we wait for the application to make room.
            if self._size - rx.any() < (frame if frame > 0 else 1):
                return 0
            self._lens.append(frame if frame > 0 else 0)
            self._addrs.append(self._addr)
            self._header_due = False
            self._filling = True
            self._left = frame
        k: int = rx.write(src, start, n)
        if frame < 0:
            self._lens[-1] += k
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
        if not self._lens[-1]:
            self._lens.pop()
            self._addrs.pop()

    def lost(self, what: str) -> None:
        # A datagram cut short (a reboot mid-frame) is not delivered: the loss is reported
        # after the datagrams before it, and its bytes are dropped then.
        cut = self._lost is None and self._filling and self._frame > 0
        if cut:
            self._filling = False
            self._cut = self._lens[-1] = self._frame - self._left
        Connection.lost(self, what)
        if cut:
            self._lost_at -= self._cut

    def _check_lost(self) -> None:
        if self._cut >= 0 and self._lost is not None and self._lost_at <= 0:
            self._rx.read(self._cut)  # the datagram that was cut: now at the head
            self._lens.pop(0)
            self._addrs.pop(0)
            self._cut = -1
        Connection._check_lost(self)

    def _next_len(self, timeout_ms: "int | None") -> int:
        # Length of the next complete datagram, waiting for one; -1 when closed.
        t = self._ms(timeout_ms)
        modem = self._modem
        start = ticks_ms()
        while True:
            queued = len(self._lens)
            self._readable(1)  # a loss recorded before the next datagram is reported first
            if queued > 1 or (queued and not self._filling):
                return self._lens[0]
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

    def _took(self, size: int) -> "Any":
        # The datagram at the head was read: drop its record, return its sender.
        self._taken(size)
        self._lens.pop(0)
        return self._addrs.pop(0)

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
        data = self._rx.read(size)
        return data, self._took(size)

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
        self._rx.readinto(buf, size)
        self._took(size)
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


# The last sender: the bytes of its ``,"<ip>",<port>`` and their parsed tuple. Datagrams
# mostly come from one peer, and reusing its tuple makes receiving allocation-free.
_last: "list[Any]" = [b"", None]


def parse_addr(buf: "Any", j: int, e: int) -> "tuple[str, int] | None":
    """Parse ``,"<ip>",<port>`` at ``buf[j:e]`` (the NCS >= 2.8 #XUDPDATA suffix).

    Here rather than in engine.py, which calls it, so TCP-only applications never load it.
    """
    seen = _last[0]
    if e - j == len(seen) and buf.find(seen, j, e) == j:
        return _last[1]  # type: ignore[no-any-return]
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
    _last[0] = bytes(memoryview(buf)[j:e])
    _last[1] = addr = (ip, port)
    return addr
