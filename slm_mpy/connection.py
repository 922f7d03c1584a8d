"""What TCP and UDP proxies share: argument checks, state, the send path and waiting.

A connection is the engine's payload sink: the engine calls ``begin``/``feed`` with bytes
straight out of its receive buffer, and they go into the connection's own fixed queue. When
that queue is full, ``feed`` takes nothing, the engine stops, its buffer fills and it stops
reading the UART: hardware flow control then holds the modem. Nothing is dropped.
"""

from .compat import ticks_diff, ticks_ms
from .errors import ATError, EBUSY, EIO, ModemReset, check_int, timeout_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def check_host(host: str) -> str:
    """Validate a host name or IP literal for a quoted AT parameter."""
    if not isinstance(host, str) or not 0 < len(host) <= 128:
        raise ValueError("host must be a str of 1..128 bytes")
    for c in host.encode():  # bytes: iterating the str would intern each character
        if c == 34 or c < 32 or c > 126:  # '"', control, non-ASCII
            raise ValueError("host contains a quote or a control/non-ASCII character: %r" % host)
    return host


def check_buf(buf: "Any") -> int:
    """The length of a receive buffer, checked to be writable (``ValueError`` otherwise)."""
    try:
        n = len(buf)
        if n:
            buf[0] = buf[0]  # a buffer that cannot be filled fails here, before any wait
    except TypeError:
        raise ValueError("bad buffer")
    return n


def client_command(cmd: str, host: str, port: int, ipv6: bool, peer_verify: int, hostname_verify: int) -> str:
    """Check a client's arguments and start its connect command: ``AT#X..CLI=<op>,"host",port``."""
    check_host(host)
    check_int("port", port, 0, 65535)
    check_int("peer_verify", peer_verify, 0, 2)
    check_int("hostname_verify", hostname_verify, 0, 1)
    return '%s=%d,"%s",%d' % (cmd, 2 if ipv6 else 1, host, port)


def info_ints(line: str) -> "list[int]":
    """The comma-separated integers after ``<prefix>:`` in an information line.

    A line damaged on the UART raises ``OSError(EIO)``: a modem failure, not a bad argument.
    """
    try:
        return [int(v) for v in line[line.find(":") + 1 :].split(",")]
    except ValueError:
        raise OSError(EIO, "unreadable reply from the modem: %r" % line)


def status_error(line: str) -> int:
    """The error value of ``#X...: <err>,"<status>"``; EIO's (-5) if the line is damaged."""
    try:
        return info_ints(line[: line.rfind(",")])[0]
    except OSError:
        return -5


class Connection:
    """Base of the TCP and UDP objects: receive queue, life cycle, send, and the byte-stream
    receive of TCP (UDP overrides it with datagrams).

    Subclasses set ``_open_cmd`` (the command that starts the proxy), ``_close_cmd``,
    ``_prefix`` (their URC prefix) and ``_what``; ``open()`` sends the first, ``close()``
    the second. ``open`` is split into ``_register``/``_opened``/``_failed`` so that an
    asyncio front end can run the same command without blocking.
    """

    _SEND = ""  # AT#XTCPSEND or AT#XUDPSEND
    _UDP = False
    _prefix = ""  # "#XTCPCLI", ...
    _close_cmd = ""
    _open_cmd = ""
    _what = ""
    _host = ""

    def __init__(self, modem: "Any", rx: "Any", timeout_ms: int) -> None:
        self._modem = modem
        self._rx = rx  # byte queue (compat.byte_queue): RingIO, or fifo.ByteQueue
        self.timeout_ms = check_int("timeout_ms", timeout_ms, 0, 0x3FFFFFFF)
        self.closed = False  # no more data will arrive (peer closed, error, or close())
        self.error: "int | None" = None  # the modem's error value when it closed
        self._released = False  # close() done: the proxy was stopped on the modem
        self._lost: "str | None" = None  # data we know was lost; reported in stream order
        self._lost_at = 0  # queued bytes that came before the loss
        self.handle = -1  # the modem's socket handle

    # --- engine sink interface

    def begin(self, n: int, addr: "Any") -> None:
        """A frame of ``n`` payload bytes starts (``addr`` for UDP, where the modem gives it)."""

    def feed(self, src: "Any", start: int, n: int) -> int:
        """Take up to ``n`` bytes of ``src[start:]``; returns how many were taken."""
        return int(self._rx.write(src, start, n))

    def end_raw(self) -> None:
        """Data mode ended: raw downlink bytes stop here."""

    def lost(self, what: str) -> None:
        """The engine could not read a frame meant for us: its bytes are lost.

        The loss is reported after the bytes queued before it and before any that follow.
        """
        if self._lost is None:
            self._lost = what
            self._lost_at = self._rx.any()

    def lost_in_datamode(self, result: int) -> None:
        """Data mode ended with an error: the connection is gone."""
        self._gone(result)

    def modem_reset(self) -> None:
        """The modem rebooted: the connection no longer exists there."""
        self._gone(-104)
        self._released = True
        self.lost("modem rebooted")

    def _gone(self, err: int) -> None:
        self.closed = True
        self.error = err

    # --- life cycle

    def _register(self) -> None:
        # Become the modem's TCP or UDP proxy before the command: data may precede the OK.
        modem = self._modem
        if self._UDP:
            modem.udp = self
        else:
            modem.tcp = self
        modem.route(self._prefix, self._urc)

    def _release(self) -> None:
        modem = self._modem
        modem.detach(self)
        if self._UDP:
            if modem.udp is self:
                modem.udp = None
                modem.route(self._prefix, None)
        elif modem.tcp is self:
            modem.tcp = None
            modem.route(self._prefix, None)

    def _failed(self, exc: BaseException) -> BaseException:
        self._release()
        if isinstance(exc, ATError):
            from .faults import connect_error  # only when a connect failed

            return connect_error(exc, self._what, self._host)
        return exc

    def _opened(self, lines: "list[str]") -> None:
        for line in lines:
            if line.endswith('"connected"') or line.endswith('"started"'):
                self.handle = status_error(line)
            else:
                self._urc(line)

    def open(self) -> None:
        """Start the proxy on the modem (the factories call this)."""
        self._register()
        try:
            lines = self._modem.command(self._open_cmd, self.timeout_ms)
        except BaseException as e:
            raise self._failed(e)
        self._opened(lines)

    def close(self) -> None:
        """Stop the proxy on the modem; safe to call twice. Queued received data stays readable.

        Refused with ``OSError(EBUSY)`` from a URC callback: the connection stays as it was.
        """
        if self._released:
            return
        self._released = True
        self._release()  # take no more data: unread bytes on their way are dropped
        try:
            for line in self._modem.command(self._close_cmd, self.timeout_ms):
                self._urc(line)
        except OSError as e:
            if e.errno == EBUSY:
                # Refused before anything was sent (from a URC callback, or while another
                # command runs): the proxy still runs, so a later close() must stop it.
                self._released = False
                self._register()
            raise
        finally:
            if self._released:
                self.closed = True

    def _urc(self, line: str) -> None:
        if line.endswith('"disconnected"') or line.endswith('"stopped"'):
            self._gone(status_error(line))

    # --- application interface

    def available(self) -> int:
        """Received bytes waiting to be read (for UDP: non-zero if a datagram may wait)."""
        return int(self._rx.any())

    def _ms(self, timeout_ms: "Any") -> int:
        # A call's timeout_ms, checked (ValueError); None: the connection's own. 0x3FFFFFFF is
        # the largest small int of a 32-bit port: the check allocates nothing.
        return self.timeout_ms if timeout_ms is None else check_int("timeout_ms", timeout_ms, 0, 0x3FFFFFFF)

    def _wait(self, t: int) -> bool:
        """Poll until queued bytes, or a closed state; False when ``t`` ms ran out.

        Inside a URC callback nothing can arrive (``poll()`` is the caller's): a wait with
        time left raises ``OSError(EBUSY)`` at once instead of waiting in vain.
        """
        modem = self._modem
        start = ticks_ms()
        rx = self._rx
        while not rx.any():
            if self.closed or self._lost:
                return True
            if not modem.poll():
                left = t - ticks_diff(ticks_ms(), start)
                if left <= 0:
                    return False
                if modem._polling:
                    raise OSError(EBUSY, "callback")
                modem.transport.wait(left if left < 20 else 20)
        return True

    def _check_lost(self) -> None:
        # Report lost data once everything received before the loss was read.
        if self._lost is not None and self._lost_at <= 0:
            what = self._lost
            self._lost = None
            raise OSError(EIO, "receive data lost: %s" % what) if what != "modem rebooted" else ModemReset()

    def _readable(self, n: int) -> int:
        # How much of a read of n may be served now: never past a recorded loss.
        if self._lost is not None:
            self._check_lost()
            if n > self._lost_at:
                n = self._lost_at
        return n

    def _taken(self, k: int) -> int:
        if self._lost is not None:
            self._lost_at -= k
        return k

    # The byte stream of TCP (UDP's datagrams override these).

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

    def send(self, data: "Any", timeout_ms: "int | None" = None) -> int:
        """Send ``data`` (bytes-like or str), binary-safe; returns the byte count sent.

        Raises ``OSError(ENOTCONN)`` once the connection is closed or the modem refuses the
        send, ``ValueError`` for data that is not bytes-like or ``str``.
        """
        from .datamode import send  # loaded on the first send: a receiver never pays for it

        return send(self, data, timeout_ms)

    def __enter__(self) -> "Any":
        return self

    def __exit__(self, exc_type: "Any", *exc: "Any") -> None:
        if exc_type is None:
            self.close()
        else:
            try:  # keep the original error visible
                self.close()
            except OSError:
                pass


def timeout(what: str, timeout_ms: int) -> OSError:
    """``OSError(ETIMEDOUT)`` for a receive that got nothing in time."""
    return timeout_error("%s: nothing received in %d ms" % (what, timeout_ms))
