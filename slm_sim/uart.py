"""The simulated UART towards the host: transports, pacing, fragmentation, flow control.

Every :meth:`Uart.write` call is one atomic ``rsp_send``/``data_send`` of the
firmware: writes from different threads never mix bytes, but another write may
come between two calls. Writes block while the host does not read (the host
link has a small send buffer), which is how hardware flow control stalls SLM's
TX ring and, behind it, the proxy threads.
"""
from __future__ import annotations

import errno
import logging
import os
import select
import socket
import threading
import time
from typing import Callable, Optional

from .config import SimConfig
from .faults import Faults

log = logging.getLogger("slm_sim")

RX_CHUNK = 256  # CONFIG_SLM_UART_RX_BUF_SIZE: the firmware receives in chunks of this size
_POLL = 0.05    # how often blocked writers look at the abort flags


class HostGone(Exception):
    """The host side of the link is closed."""


class HostPort:
    """A non-blocking byte pipe to the host (socket or pty master)."""

    def fileno(self) -> int:
        raise NotImplementedError

    def read(self, size: int) -> Optional[bytes]:
        """Up to ``size`` bytes; None if nothing is available; b"" when the host is gone."""
        raise NotImplementedError

    def write(self, data: memoryview) -> int:
        """Write what fits now (0 if nothing does); raise HostGone if the host is gone."""
        raise NotImplementedError

    def wait_writable(self, timeout: float) -> None:
        select.select([], [self.fileno()], [], timeout)

    def close(self) -> None:
        raise NotImplementedError


class SocketPort(HostPort):
    """Host link over a connected stream socket (TCP or one end of a socketpair)."""

    def __init__(self, sock: socket.socket, sndbuf: int) -> None:
        self.sock = sock
        if sndbuf > 0:
            # A small send buffer makes a non-reading host block us quickly.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        sock.setblocking(False)
        self._fd = sock.fileno()

    def fileno(self) -> int:
        return self._fd

    def read(self, size: int) -> Optional[bytes]:
        try:
            return self.sock.recv(size)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return b""

    def write(self, data: memoryview) -> int:
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            raise HostGone(str(exc)) from exc

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class FdPort(HostPort):
    """Host link over a pty master. ``keep_fd`` (the slave) stays open so the master
    never reports EIO/HUP while no host program has the pty open."""

    def __init__(self, fd: int, keep_fd: Optional[int] = None) -> None:
        self._fd = fd
        self._keep = keep_fd
        os.set_blocking(fd, False)

    def fileno(self) -> int:
        return self._fd

    def read(self, size: int) -> Optional[bytes]:
        try:
            return os.read(self._fd, size)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            if exc.errno == errno.EIO:
                return None
            return b""

    def write(self, data: memoryview) -> int:
        try:
            return os.write(self._fd, data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            if exc.errno == errno.EIO:
                return 0
            raise HostGone(str(exc)) from exc

    def close(self) -> None:
        for fd in (self._fd, self._keep):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


class Uart:
    """Host-bound side of the UART with pacing, fragmentation and the TX faults."""

    def __init__(self, port: HostPort, config: Callable[[], SimConfig], faults: Faults,
                 on_tx_budget: Callable[[], None]) -> None:
        self.port = port
        self._config = config
        self._faults = faults
        self._on_tx_budget = on_tx_budget
        self._lock = threading.Lock()
        self._muted = False
        self._closed = False
        self._line_free = 0.0   # monotonic time at which the line finishes the last byte
        self.tx_bytes = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def mute(self) -> None:
        """Abort writes in progress and discard new ones (a reboot is under way)."""
        self._muted = True

    def unmute(self) -> None:
        self._muted = False

    def close(self) -> None:
        self._closed = True

    def write(self, data: bytes) -> bool:
        """Send ``data`` as one uninterrupted write; False if it was aborted or discarded."""
        if not data:
            return True
        with self._lock:
            if self._muted or self._closed:
                return False
            if log.isEnabledFor(logging.DEBUG):
                log.debug("tx %r%s", data[:80], "..." if len(data) > 80 else "")
            data, budget_hit = self._faults.take_tx(data)
            data = self._faults.filter_tx(data)
            done = self._send(data)
            if budget_hit:
                self._muted = True  # nothing more leaves until the reboot's banner
                self._on_tx_budget()
                return False
            return done

    def _send(self, data: bytes) -> bool:
        view = memoryview(data)
        pos = 0
        while pos < len(view):
            self._wait_stall()
            cfg = self._config()
            if cfg.fragment:
                size = self._faults.fragment_size(cfg.fragment)
            elif cfg.baud:
                size = max(1, cfg.baud // 2500)  # ~4 ms of line time per piece
            else:
                size = len(view) - pos
            piece = view[pos:pos + size]
            if not self._write_fully(piece):
                return False
            pos += len(piece)
            self.tx_bytes += len(piece)
            if cfg.baud:
                self._pace(len(piece), cfg.baud)
            if cfg.fragment:
                time.sleep(self._faults.fragment_gap())
        return True

    def _pace(self, count: int, baud: int) -> None:
        # 10 bits per byte (8N1). The line time accumulates across writes so a
        # burst of small writes is paced as one stream.
        now = time.monotonic()
        self._line_free = max(self._line_free, now) + count * 10.0 / baud
        delay = self._line_free - now
        if delay > 0.0005:
            time.sleep(delay)

    def _wait_stall(self) -> None:
        while not (self._muted or self._closed):
            left = self._faults.stall_remaining()
            if left <= 0:
                return
            time.sleep(min(left, _POLL))

    def _write_fully(self, piece: memoryview) -> bool:
        while len(piece):
            if self._muted or self._closed:
                return False
            try:
                sent = self.port.write(piece)
            except HostGone:
                self._closed = True
                return False
            if sent:
                piece = piece[sent:]
            else:
                self.port.wait_writable(_POLL)
        return True
