"""A ``socket`` module over SLM's TCP and UDP proxies, shaped like MicroPython's.

Libraries written for MicroPython's ``socket`` (``umqtt.simple``, small HTTP clients) run
unmodified when this module stands in for it::

    import sys
    import slm_mpy.socket
    sys.modules["socket"] = sys.modules["usocket"] = slm_mpy.socket
    from umqtt.simple import MQTTClient   # now talks through the modem

The modem is the one given to :func:`set_interface`, else the most recently created
``slm_mpy.SLM``. What SLM imposes, and this module does not hide:

* One TCP connection and one UDP connection at a time (SLM has one proxy of each). A second
  socket of the same kind raises ``OSError(EBUSY)`` at ``connect``; close the first one.
* Client sockets only (``connect``); no ``bind``/``listen``/``accept``.
* TLS/DTLS is done by the modem with credentials stored under a ``sec_tag``
  (``AT%CMNG``). Ask for it with ``socket(..., sec_tag=N)`` or :func:`wrap_socket`, before
  ``connect`` or on a connected socket that has not carried data yet.
* ``connect`` and ``send`` always wait for the modem (up to the socket's timeout, or 30 s);
  a non-blocking socket makes only the receive side non-blocking.

Blocking semantics follow MicroPython: ``read(n)``/``readinto`` wait for ``n`` bytes unless
the peer closes; ``recv(n)`` returns what is there (at least one byte). With a timeout
(``settimeout(seconds)``) a wait that gets nothing raises ``OSError(ETIMEDOUT)``; data that
did arrive is returned. Non-blocking (``settimeout(0)``/``setblocking(False)``): ``read``,
``readinto`` and ``readline`` return ``None`` when nothing waits, ``recv``/``recvfrom`` raise
``OSError(EAGAIN)`` (as MicroPython's and CPython's sockets do).
"""

from .connection import check_host
from .errors import check_int
from .errors import EAGAIN, EBADF, EHOSTUNREACH, ETIMEDOUT
from .modem import default_modem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

AF_INET = 2  # MicroPython's values (lwIP ports)
AF_INET6 = 10
SOCK_STREAM = 1
SOCK_DGRAM = 2
IPPROTO_TCP = 6
IPPROTO_UDP = 17

_EISCONN = 106
_EOPNOTSUPP = 95
_ENODEV = 19
_SLICE_MS = 1000  # a blocking wait polls in slices of this length (no exception per slice)
_DATAGRAM_MAX = 4096  # larger than anything SLM delivers in one #XUDPDATA

_iface: "list[Any]" = [None]


def set_interface(modem: "Any") -> None:
    """Use ``modem`` (an ``slm_mpy.SLM``) for new sockets; ``None``: the latest SLM again."""
    _iface[0] = modem


def _modem() -> "Any":
    m = _iface[0] or default_modem()
    if m is None:
        raise OSError(_ENODEV, "no modem: create slm_mpy.SLM(uart) or call set_interface()")
    return m


def _is_ip(host: str) -> bool:
    if ":" in host:
        return True
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)


def getaddrinfo(host: str, port: int, af: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> "list[tuple[int, int, int, str, tuple[str, int]]]":
    """Resolve ``host`` through the modem (``AT#XGETADDRINFO``); IP literals are not looked up.

    Returns ``[(family, type, proto, "", (ip, port)), ...]``; the address tuple is what
    ``socket.connect`` takes. Raises ``OSError(EHOSTUNREACH)`` if the name does not resolve.
    """
    if _is_ip(host):
        found = [host]
    else:
        found = _modem().resolve(host, 1 if af == AF_INET else 2 if af == AF_INET6 else 0)
    if not type:
        type = SOCK_STREAM
    if not proto:
        proto = IPPROTO_UDP if type == SOCK_DGRAM else IPPROTO_TCP
    out: "list[tuple[int, int, int, str, tuple[str, int]]]" = []
    seen: "list[str]" = []
    for ip in found:
        fam = AF_INET6 if ":" in ip else AF_INET
        if ip in seen or (af and fam != af):
            continue  # SLM repeats its first answer for every further one
        seen.append(ip)
        out.append((fam, type, proto, "", (ip, port)))
    if not out:
        raise OSError(EHOSTUNREACH, "no address for %r" % host)
    return out


class socket:
    """A TCP (``SOCK_STREAM``) or UDP (``SOCK_DGRAM``) client socket through the modem.

    ``sec_tag``: TLS (TCP) or DTLS (UDP) with the modem's credentials under that tag;
    ``peer_verify`` (0 none, 1 optional, 2 required) and ``hostname_verify`` (0/1) as in
    ``AT#XTCPCLI``. ``server_hostname`` (from :func:`wrap_socket`) is the name the modem
    connects to and verifies, whatever address ``connect`` gets.
    """

    def __init__(
        self,
        af: int = AF_INET,
        type: int = SOCK_STREAM,
        proto: int = 0,
        sec_tag: "int | None" = None,
        peer_verify: int = 2,
        hostname_verify: int = 1,
    ) -> None:
        if type != SOCK_STREAM and type != SOCK_DGRAM:
            raise OSError(_EOPNOTSUPP, "only SOCK_STREAM and SOCK_DGRAM")
        self._af = af
        self._udp = type == SOCK_DGRAM
        self.sec_tag = sec_tag
        self.peer_verify = peer_verify
        self.hostname_verify = hostname_verify
        self.server_hostname: "str | None" = None
        self._timeout: "int | None" = None  # ms; None blocks, 0 never waits
        self._conn: "Any" = None
        self._addr: "Any" = None
        self._used = False  # data went either way (TLS can no longer be switched on)
        self._closed = False

    # --- set-up

    def settimeout(self, seconds: "float | None") -> None:
        """``None``: block; ``0``: non-blocking; else raise ``OSError(ETIMEDOUT)`` after that long.

        A negative or non-numeric timeout raises ``ValueError``.
        """
        if seconds is not None and not (isinstance(seconds, (int, float)) and seconds >= 0):
            raise ValueError("bad timeout")
        self._timeout = None if seconds is None else int(seconds * 1000)

    def setblocking(self, flag: bool) -> None:
        """``setblocking(False)`` is ``settimeout(0)``, ``setblocking(True)`` is ``settimeout(None)``."""
        self._timeout = None if flag else 0

    def connect(self, address: "Any") -> None:
        """Connect to ``(host, port)``; ``host`` may be a name (the modem resolves it)."""
        if self._closed:
            raise OSError(EBADF, "socket closed")
        if self._conn is not None:
            raise OSError(_EISCONN, "already connected")
        host = check_host(address[0])  # no str() of anything: a bad host is a ValueError
        port = address[1]  # checked by tcp_client/udp_client
        self._addr = (host, port)
        self._conn = self._open(host, port)

    def _open(self, host: str, port: int) -> "Any":
        modem = _modem()
        name = self.server_hostname or host
        ipv6 = self._af == AF_INET6 or ":" in name
        t = self._timeout if self._timeout else 30000
        if self._udp:
            return modem.udp_client(name, port, self.sec_tag, None, self.peer_verify, self.hostname_verify, ipv6, timeout_ms=t)
        return modem.tcp_client(name, port, self.sec_tag, self.peer_verify, self.hostname_verify, ipv6, timeout_ms=t)

    def _start_tls(self) -> None:
        # TLS is set up by the modem at connect time: reconnect with the sec_tag.
        if self._conn is None:
            return
        if self._used:
            raise OSError(_EISCONN, "TLS must be requested before data is exchanged")
        self._conn.close()
        self._conn = None
        self._conn = self._open(self._addr[0], self._addr[1])

    def close(self) -> None:
        """Stop the modem's proxy (frees the TCP/UDP slot); safe to call twice.

        Refused from a URC callback (``OSError(EBUSY)``): the socket stays open, close it later.
        """
        c = self._conn
        try:
            if c is not None:
                c.close()
        finally:
            if c is None or c._released:
                self._conn = None
                self._closed = True

    def __enter__(self) -> "socket":
        return self

    def __exit__(self, *exc: "Any") -> None:
        self.close()

    def makefile(self, mode: str = "rb", buffering: int = 0) -> "socket":
        """The socket itself (it already has ``read``/``write``/``readline``)."""
        return self

    def _c(self) -> "Any":
        c = self._conn
        if c is None:
            raise OSError(EBADF, "socket closed" if self._closed else "socket not connected")
        self._used = True
        return c

    # --- sending

    def send(self, data: "Any") -> int:
        """Send all of ``data`` (one datagram for UDP); returns its length."""
        n: int = self._c().send(data)
        return n

    def sendall(self, data: "Any") -> None:
        """Send all of ``data``."""
        self.send(data)

    def write(self, buf: "Any", n: "int | None" = None) -> int:
        """Send ``buf`` (its first ``n`` bytes if given); returns the count."""
        if n is not None and n < len(buf):
            buf = memoryview(buf)[:n]
        return self.send(buf)

    def sendto(self, data: "Any", address: "Any") -> int:
        """UDP: send a datagram to ``address`` (the first call connects the socket there)."""
        if self._conn is None:
            self.connect(address)
        return self.send(data)

    # --- receiving

    def _ready(self, c: "Any") -> bool:
        # Wait as the timeout says until bytes are queued (or the connection ended).
        t = self._timeout
        if t is None:
            while not c._wait(_SLICE_MS):
                pass
            return True
        return bool(c._wait(t))

    def _nothing(self) -> None:
        # Nothing arrived: None for a non-blocking socket, else the timeout error.
        if self._timeout:
            raise OSError(ETIMEDOUT, "socket timed out after %d ms" % self._timeout)

    def _datagram(self, c: "Any") -> "Any":
        # One whole datagram (data, addr), or None when nothing waits (non-blocking).
        if not self._ready(c):
            self._nothing()
            return None
        try:
            return c.recvfrom(_DATAGRAM_MAX, self._timeout if self._timeout is not None else c.timeout_ms)
        except OSError as e:
            if e.errno == ETIMEDOUT and self._timeout == 0:
                return None  # only part of a datagram arrived so far
            raise

    def recv(self, n: int) -> bytes:
        """Receive up to ``n`` bytes (UDP: one datagram, cut to ``n``); ``b""`` once the peer closed."""
        check_int("n", n, 0, 0x3FFFFFFF)
        c = self._c()
        if self._udp:
            d = self._datagram(c)
            if d is None:
                raise OSError(EAGAIN, "no datagram waiting")
            data: bytes = d[0]
            return data if len(data) <= n else data[:n]
        if not self._ready(c):
            self._nothing()
            raise OSError(EAGAIN, "no data waiting")
        got: bytes = c.recv(n, 0)
        return got

    def recvfrom(self, n: int) -> "tuple[bytes, Any]":
        """UDP: one datagram and its sender ``(ip, port)`` (``None`` on NCS < 2.8)."""
        check_int("n", n, 0, 0x3FFFFFFF)
        c = self._c()
        if not self._udp:
            return self.recv(n), self._addr
        d = self._datagram(c)
        if d is None:
            raise OSError(EAGAIN, "no datagram waiting")
        data, addr = d
        return (data if len(data) <= n else data[:n]), addr

    def readinto(self, buf: "Any", nbytes: "int | None" = None) -> "int | None":
        """Fill ``buf`` (its first ``nbytes``); fewer only if the peer closed or a timeout hit."""
        c = self._c()
        try:
            mv = memoryview(buf)
            n = len(mv) if nbytes is None or nbytes > len(mv) else nbytes
            if n > 0:
                mv[0] = mv[0]  # a buffer that cannot be filled fails here, before any wait
        except TypeError:
            raise ValueError("bad buffer")
        if self._udp:
            d = self._datagram(c)
            if d is None:
                return None
            data = d[0]
            k = len(data) if len(data) < n else n
            buf[0:k] = data[0:k] if k < len(data) else data
            return k
        got = 0
        while got < n:
            if not self._ready(c):
                if got:
                    break  # return what did arrive
                self._nothing()
                return None
            k = c.recv_into(mv[got:n], 0)
            if not k:
                break  # the peer closed
            got += k
        return got

    def read(self, n: int = -1) -> "bytes | None":
        """Read ``n`` bytes (fewer only at the end of the stream); ``read()`` reads to the end."""
        if n < 0:
            parts: "list[bytes]" = []
            while True:
                chunk = self.read(1024)
                if not chunk:
                    if chunk is None and not parts:
                        return None
                    return b"".join(parts)
                parts.append(chunk)
        if self._udp:
            d = self._datagram(self._c())
            if d is None:
                return None
            data: bytes = d[0]
            return data if len(data) <= n else data[:n]
        buf = bytearray(n)
        k = self.readinto(buf)
        if k is None:
            return None
        return bytes(buf) if k == n else bytes(memoryview(buf)[:k])

    def readline(self) -> "bytes | None":
        """Read up to and including ``\\n`` (less at the end of the stream)."""
        c = self._c()
        if self._udp:
            raise OSError(_EOPNOTSUPP, "readline on a UDP socket")
        rx = c._rx
        line = bytearray()
        while True:
            if not self._ready(c):
                if line:
                    break
                self._nothing()
                return None
            if not rx.any():
                c._check_lost()
                break  # the peer closed
            part = rx.readline(4096)
            line += part
            if part.endswith(b"\n"):
                break
        return bytes(line)


def wrap_socket(sock: socket, sec_tag: int, server_hostname: "str | None" = None, peer_verify: int = 2, hostname_verify: int = 1) -> socket:
    """Make ``sock`` a TLS (DTLS for UDP) socket using the modem's credentials under ``sec_tag``.

    Call it before ``connect``, or right after it (as ``umqtt.simple`` does with ``ssl=True``;
    the modem then reconnects with TLS). Returns ``sock``.
    """
    sock.sec_tag = sec_tag
    sock.peer_verify = peer_verify
    sock.hostname_verify = hostname_verify
    if server_hostname:
        sock.server_hostname = server_hostname
    sock._start_tls()
    return sock
