"""An asyncio front end: ``await`` commands, connects, sends and receives while other tasks run.

Thin on purpose: it drives the same non-blocking pieces as the blocking API
(``modem.begin``/``poll``/``finish`` for commands and connects, the connection's queue for
receiving, ``datamode.datamode_steps`` for data-mode sends) and yields to the event loop
wherever the blocking API would wait. Works with MicroPython's ``asyncio`` and CPython's.

Example::

    import asyncio
    from slm_mpy import SLM
    from slm_mpy.aio import AsyncSLM

    async def main(modem):
        am = AsyncSLM(modem)
        asyncio.create_task(am.poll_forever())  # URC callbacks run even while all is idle
        async with await am.tcp_client("example.com", 80) as c:
            await c.send(b"HEAD / HTTP/1.0\\r\\n\\r\\n")
            print(await c.recv(200, timeout_ms=10000))

    asyncio.run(main(modem))

One command at a time, as SLM requires: tasks queue for the modem on a lock, so a task that
sends (or connects) waits while another task's command or data-mode send is in progress.
Receiving needs no lock. SLM's limits stay: one TCP and one UDP connection at a time.
"""

import asyncio

from .compat import ticks_diff, ticks_ms
from .connection import check_buf, timeout
from .control import check_command
from .datamode import READY, WAIT, abort, as_bytes, datamode_steps, string_safe, string_sent
from .errors import EBUSY, EIO, ENOTCONN, ETIMEDOUT, check_int
from .modem import default_modem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Awaitable, Callable

_sleep_ms: "Callable[[int], Awaitable[None]]"
if hasattr(asyncio, "sleep_ms"):
    _sleep_ms = getattr(asyncio, "sleep_ms")
else:  # CPython

    def _sleep_ms(ms: int) -> "Awaitable[None]":
        return asyncio.sleep(ms / 1000)


class AsyncSLM:
    """Awaitable operations on an ``SLM`` (``modem``; default: the latest one created).

    ``poll_ms`` is how long a waiting task sleeps when the UART had nothing new: small
    enough that the UART's receive buffer does not fill meanwhile (4 KiB at 115200 baud
    lasts 350 ms; the default 5 ms is far inside that).
    """

    def __init__(self, modem: "Any" = None, poll_ms: int = 5) -> None:
        self.modem = modem if modem is not None else default_modem()
        self.poll_ms = poll_ms
        self._lock = asyncio.Lock()

    # --- commands

    async def at(self, command: str, timeout_ms: int = 5000) -> "list[str]":
        """Like ``SLM.at``: send an AT command, return its information lines."""
        check_command(command)
        return await self.command(command, timeout_ms)

    async def command(self, cmd: str, timeout_ms: int) -> "list[str]":
        """Layer API: an already checked command, after any command in progress."""
        async with self._lock:
            return await self._run(cmd, timeout_ms, None)

    async def _run(self, cmd: str, timeout_ms: int, datamode: "Any", text: "Any" = None) -> "list[str]":
        # begin/poll/finish with awaits in between; the caller holds the lock.
        modem = self.modem
        modem.begin(cmd, datamode, text)
        start = ticks_ms()
        try:
            while True:
                lines: "list[str] | None" = modem.finish()
                if lines is not None:
                    return lines
                if modem.poll():
                    await _sleep_ms(0)
                elif ticks_diff(ticks_ms(), start) > timeout_ms:
                    raise modem.abandon(timeout_ms)
                else:
                    await _sleep_ms(self.poll_ms)
        except BaseException:
            if getattr(modem, "_busy", None):  # cancelled: forget it, its late reply is recognised
                modem.abandon(0)
            raise

    async def _step(self, step: int) -> None:
        # Carry out one wait that datamode_steps asks for.
        modem = self.modem
        if step > 0:  # a silent pause on the wire; keep receiving meanwhile
            modem.transport.flush()
            start = ticks_ms()
            while True:
                left = step - ticks_diff(ticks_ms(), start)
                if left <= 0:
                    return
                modem.poll()
                await _sleep_ms(left if left < self.poll_ms else self.poll_ms)
        elif step == WAIT and not modem.poll():
            # After our "+++", SLM's #XDATAMODE counts once the line stayed quiet a few ms.
            await _sleep_ms(2 if modem.dm_exiting else self.poll_ms)
        else:  # READY, or bytes arrived: let the other tasks run, then go on
            await _sleep_ms(0)

    async def poll_forever(self, interval_ms: int = 20) -> None:
        """Keep the modem polled (URC callbacks, incoming data) when no task waits on it.

        Run it as a task: ``asyncio.create_task(am.poll_forever())``; cancel it to stop.
        """
        modem = self.modem
        while True:
            while modem.poll():
                await _sleep_ms(0)
            await _sleep_ms(interval_ms)

    # --- connections

    async def _open(self, conn: "Any", current: str, kind: str) -> "AsyncConnection":
        modem = self.modem
        async with self._lock:
            modem._free_slot(getattr(modem, current), kind)  # EBUSY while one is open
            conn._register()
            try:
                lines = await self._run(conn._open_cmd, conn.timeout_ms, None)
            except BaseException as e:
                raise conn._failed(e)
            conn._opened(lines)
        return AsyncConnection(self, conn)

    async def tcp_client(self, host: str, port: int, sec_tag: "int | None" = None, peer_verify: int = 2, hostname_verify: int = 1, ipv6: bool = False, **kw: "Any") -> "AsyncConnection":
        """Like ``SLM.tcp_client``; returns an :class:`AsyncConnection`."""
        from .tcp import TCPClient

        c = TCPClient(self.modem, host, port, sec_tag, peer_verify, hostname_verify, ipv6, **kw)
        return await self._open(c, "tcp", "TCP")

    async def udp_client(self, host: str, port: int, sec_tag: "int | None" = None, use_dtls_cid: "int | None" = None, peer_verify: int = 2, hostname_verify: int = 1, ipv6: bool = False, **kw: "Any") -> "AsyncConnection":
        """Like ``SLM.udp_client``; returns an :class:`AsyncConnection`."""
        from .udp import UDPClient

        c = UDPClient(self.modem, host, port, sec_tag, use_dtls_cid, peer_verify, hostname_verify, ipv6, **kw)
        return await self._open(c, "udp", "UDP")

    async def udp_server(self, port: int, ipv6: bool = False, **kw: "Any") -> "AsyncConnection":
        """Like ``SLM.udp_server``; returns an :class:`AsyncConnection`."""
        from .udp import UDPServer

        c = UDPServer(self.modem, port, ipv6, **kw)
        return await self._open(c, "udp", "UDP")


class AsyncConnection:
    """Awaitable ``send``/``recv``/``recv_into``/``recvfrom``/``close`` on a TCP or UDP connection.

    ``conn`` is the underlying blocking connection (``TCPClient``, ``UDPClient``, ...); its
    ``closed`` and ``error`` are mirrored here. Timeouts raise ``OSError(ETIMEDOUT)``.
    """

    def __init__(self, am: AsyncSLM, conn: "Any") -> None:
        self._am = am
        self.conn = conn

    @property
    def closed(self) -> bool:
        return bool(self.conn.closed)

    @property
    def error(self) -> "int | None":
        e: "int | None" = self.conn.error
        return e

    async def _arrived(self, timeout_ms: "int | None") -> None:
        # Wait until bytes are queued, the connection ended, or data was lost.
        c = self.conn
        modem = self._am.modem
        t = c._ms(timeout_ms)
        start = ticks_ms()
        rx = c._rx
        while not rx.any() and not c.closed and c._lost is None:
            if modem.poll():
                await _sleep_ms(0)
            elif ticks_diff(ticks_ms(), start) >= t:
                raise timeout("recv", t)
            else:
                await _sleep_ms(self._am.poll_ms)

    async def recv(self, n: int, timeout_ms: "int | None" = None) -> bytes:
        """TCP: up to ``n`` bytes, ``b""`` once the peer closed. UDP: one datagram."""
        check_int("n", n, 0, 0x3FFFFFFF)
        if self.conn._UDP:
            return (await self.recvfrom(n, timeout_ms))[0]
        await self._arrived(timeout_ms)
        data: bytes = self.conn.recv(n, 0)
        return data

    async def recv_into(self, buf: "Any", timeout_ms: "int | None" = None) -> int:
        """Receive into ``buf``; returns the count (TCP: 0 once the peer closed)."""
        check_buf(buf)
        if self.conn._UDP:
            data = (await self.recvfrom(len(buf), timeout_ms))[0]
            buf[0 : len(data)] = data
            return len(data)
        await self._arrived(timeout_ms)
        n: int = self.conn.recv_into(buf, 0)
        return n

    async def recvfrom(self, n: int, timeout_ms: "int | None" = None) -> "tuple[bytes, Any]":
        """UDP: one datagram and its sender (see ``UDPClient.recvfrom``)."""
        c = self.conn
        check_int("n", n, 0, 0x3FFFFFFF)
        t = c._ms(timeout_ms)
        start = ticks_ms()
        while True:
            left = t - ticks_diff(ticks_ms(), start)
            await self._arrived(left if left > 0 else 0)
            try:
                got: "tuple[bytes, Any]" = c.recvfrom(n, 0)
                return got
            except OSError as e:
                if e.errno != ETIMEDOUT:
                    raise
            # Only part of the datagram is in; the rest follows at once.
            await _sleep_ms(self._am.poll_ms)

    async def send(self, data: "Any", timeout_ms: "int | None" = None) -> int:
        """Send ``data`` (bytes-like or str); like the blocking ``send``, but other tasks run
        while it waits for the modem and during data-mode pauses."""
        c = self.conn
        data = as_bytes(data)
        t = c._ms(timeout_ms)
        if c.closed or c._released:
            raise OSError(ENOTCONN, "connection closed")
        n = len(data)
        if not n:
            return 0
        am = self._am
        cmd = c._SEND
        async with am._lock:
            if string_safe(data):
                sent = 0
                while sent < n:
                    rest = memoryview(data)[sent:] if sent else data
                    k = string_sent(cmd, await am._run(cmd, t, None, rest), len(rest))
                    if k <= 0:
                        raise OSError(EIO, "modem sent %d of %d bytes" % (sent, n))
                    sent += k
                    if c._UDP:
                        break
                return sent
            try:
                for step in datamode_steps(am.modem, cmd, c, data, c._UDP, t):
                    if step == READY:
                        await _sleep_ms(0)
                    else:
                        await am._step(step)
            except BaseException:
                abort(am.modem)
                raise
        return n

    async def close(self) -> None:
        """Stop the proxy on the modem; safe to call twice. Queued data stays readable."""
        c = self.conn
        if c._released:
            return
        c._released = True  # a second close() meanwhile returns at once
        try:
            lines = await self._am.command(c._close_cmd, c.timeout_ms)
        except BaseException as e:
            if not isinstance(e, OSError) or e.errno == EBUSY:
                # Cancelled while waiting for its turn, or refused: close() can be repeated.
                c._released = False
                raise
            c.closed = True
            c._release()
            raise
        for line in lines:
            c._urc(line)
        c.closed = True
        c._release()

    async def __aenter__(self) -> "AsyncConnection":
        return self

    async def __aexit__(self, *exc: "Any") -> None:
        await self.close()
