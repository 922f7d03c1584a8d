"""A stand-in for CircuitPython's ``busio.UART`` on CPython, and tests of how it behaves.

CircuitPython's UART differs from MicroPython's ``machine.UART`` in the ways that matter to
the driver's transport adapter:

* there is no ``any()``; ``in_waiting`` says how many bytes sit in the receive buffer;
* ``readinto(buf)`` tries to fill *all* of ``buf``: with fewer bytes waiting it blocks until
  more arrive, giving up only when ``timeout`` seconds pass without a new byte (the wait
  restarts with every byte received). It returns ``None`` when nothing was read;
* ``timeout`` is in seconds (a float, default 1, at most 100);
* the receive buffer holds ``receiver_buffer_size`` bytes (default 64); with RTS/CTS the
  sender is held while it is full.

The classes here model exactly that, so a test fails -- or visibly stalls -- if the adapter
ever asks for more than ``in_waiting``. ``stalled_reads`` counts the reads that had to wait.

* :class:`MockBusioUART`: the unix-port tests' scripted ``MockUART`` seen through busio's
  reading rules. Every look at the receive side lets one more chunk of the scripted bytes
  "arrive" (the mock's ``chunk`` setting still decides the sizes).
* :class:`SocketBusioUART`: a socket (e.g. to ``slm_sim``) behind a reader thread that plays
  the UART peripheral, filling the receive buffer and stopping when it is full.

This module imports neither pytest nor slm_mpy, so a subprocess can use it in an
environment shaped like CircuitPython. Its own tests (below) pin the model down.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from typing import Any, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unix_port_tests"))
from mockuart import MockUART  # noqa: E402  (the unix-port tests' mock, plain Python)

sys.path.pop(0)


class BusioReading:
    """busio.UART's receive rules; subclasses say how bytes arrive (``_arrive``/``_idle``)."""

    timeout: float
    receiver_buffer_size: int
    baudrate: int

    def _setup(self, baudrate: int, timeout: float, receiver_buffer_size: int) -> None:
        if not 0 <= timeout <= 100:
            raise ValueError("timeout must be 0.0-100.0 seconds")  # as CircuitPython says
        if receiver_buffer_size < 1:
            raise ValueError("receiver_buffer_size must be >= 1")
        self.baudrate = baudrate
        self.timeout = float(timeout)
        self.receiver_buffer_size = receiver_buffer_size
        self._rxq = bytearray()  # the receive buffer: bytes that reached the pins, unread
        self._lock = threading.Lock()
        self.stalled_reads = 0  # reads that asked for more than was waiting
        self.stalled_seconds = 0.0
        self.reads = 0

    # --- how bytes arrive (subclasses)

    def _arrive(self) -> None:
        """Move bytes that reached the pins into ``_rxq`` (at most ``receiver_buffer_size``)."""

    def _idle(self, seconds: float) -> None:
        """Wait up to ``seconds`` for more bytes to arrive."""
        time.sleep(seconds)

    # --- the busio.UART receive API

    @property
    def in_waiting(self) -> int:
        self._arrive()
        return len(self._rxq)

    def _take(self, buf: Any, off: int) -> int:
        self._arrive()
        with self._lock:
            n = min(len(buf) - off, len(self._rxq))
            if n:
                buf[off : off + n] = self._rxq[:n]
                del self._rxq[:n]
        return n

    def readinto(self, buf: Any) -> Optional[int]:
        """Fill ``buf``; wait while bytes keep coming (``timeout`` between two bytes)."""
        self.reads += 1
        want = len(buf)
        got = self._take(buf, 0)
        if got < want and self.timeout > 0:
            self.stalled_reads += 1
            began = time.monotonic()
            deadline = began + self.timeout
            while got < want:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._idle(left)
                k = self._take(buf, got)
                if k:
                    got += k
                    deadline = time.monotonic() + self.timeout
            self.stalled_seconds += time.monotonic() - began
        return got or None

    def read(self, nbytes: Optional[int] = None) -> Optional[bytes]:
        """``nbytes`` bytes (fewer on timeout); everything until a timeout when ``None``."""
        if nbytes is None:
            out = bytearray()
            chunk = bytearray(self.receiver_buffer_size)
            while True:
                n = self.readinto(chunk)
                if not n:
                    break
                out += chunk[:n]
                if n < len(chunk):
                    break
            return bytes(out) or None
        buf = bytearray(nbytes)
        n = self.readinto(buf)
        return bytes(buf[:n]) if n else None

    def reset_input_buffer(self) -> None:
        self._arrive()
        with self._lock:
            self._rxq.clear()

    def deinit(self) -> None:
        pass

    def __enter__(self) -> "BusioReading":
        return self

    def __exit__(self, *exc: object) -> None:
        self.deinit()


class MockBusioUART(BusioReading, MockUART):
    """``MockUART`` with busio's receive side; all of MockUART's test hooks still work."""

    def __init__(
        self,
        responder: Any = None,
        chunk: int = 0,
        seed: int = 1,
        *,
        baudrate: int = 115200,
        timeout: float = 1.0,
        receiver_buffer_size: int = 64,
    ) -> None:
        MockUART.__init__(self, responder, chunk, seed)
        self._setup(baudrate, timeout, receiver_buffer_size)
        self._scratch = bytearray(receiver_buffer_size)

    def _arrive(self) -> None:
        room = self.receiver_buffer_size - len(self._rxq)
        if room > 0:
            n = MockUART.readinto(self, memoryview(self._scratch)[:room])
            if n:
                self._rxq += self._scratch[:n]

    def _idle(self, seconds: float) -> None:
        if self.pending():
            return  # more scripted bytes are on their way: the next _arrive takes them
        time.sleep(seconds)  # nothing else will come: a real UART sits out its timeout too


class SocketBusioUART(BusioReading):
    """A socket seen as a busio.UART with RTS/CTS: a full receive buffer holds the sender."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        baudrate: int = 115200,
        timeout: float = 1.0,
        receiver_buffer_size: int = 64,
    ) -> None:
        self._setup(baudrate, timeout, receiver_buffer_size)
        self._sock = sock
        sock.setblocking(True)
        self._changed = threading.Condition(self._lock)
        self._closed = False
        self.eof = False
        self._thread = threading.Thread(target=self._receive, name="busio-rx", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        # The UART peripheral: move bytes off the wire while the buffer has room (RTS).
        while True:
            with self._changed:
                while not self._closed and len(self._rxq) >= self.receiver_buffer_size:
                    self._changed.wait(0.5)
                if self._closed:
                    return
                room = self.receiver_buffer_size - len(self._rxq)
            try:
                data = self._sock.recv(room)
            except OSError:
                data = b""
            with self._changed:
                if not data:
                    self.eof = True
                    self._changed.notify_all()
                    return
                self._rxq += data
                self._changed.notify_all()

    def _take(self, buf: Any, off: int) -> int:
        n = super()._take(buf, off)
        if n:
            with self._changed:
                self._changed.notify_all()  # room again: let the reader go on
        return n

    def _idle(self, seconds: float) -> None:
        with self._changed:
            if not self._rxq and not self.eof:
                self._changed.wait(seconds)
            elif self.eof:
                time.sleep(seconds)

    def write(self, buf: Any) -> int:
        self._sock.sendall(buf)
        return len(buf)

    def deinit(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._thread.join(2)


# ---------------------------------------------------------------------------
# The model itself: these pin down the behaviour the driver's adapter must cope with.


def test_readinto_blocks_for_bytes_that_are_not_there() -> None:
    uart = MockBusioUART(timeout=0.2)
    uart.feed(b"0123456789")
    buf = bytearray(100)
    began = time.monotonic()
    assert uart.readinto(buf) == 10
    assert time.monotonic() - began >= 0.19
    assert uart.stalled_reads == 1 and bytes(buf[:10]) == b"0123456789"


def test_reading_no_more_than_in_waiting_never_blocks() -> None:
    uart = MockBusioUART(timeout=5, chunk=3)
    uart.feed(b"abcdefgh")
    got = bytearray()
    began = time.monotonic()
    while len(got) < 8:
        n = uart.in_waiting
        if n:
            buf = bytearray(n)
            assert uart.readinto(buf) == n
            got += buf
    assert got == b"abcdefgh" and uart.stalled_reads == 0
    assert time.monotonic() - began < 1


def test_timeout_zero_returns_what_is_there_and_none_for_nothing() -> None:
    uart = MockBusioUART(timeout=0)
    assert uart.readinto(bytearray(4)) is None and uart.read(4) is None
    uart.feed(b"xy")
    assert uart.read(4) == b"xy"


def test_receive_buffer_is_bounded_and_chunks_arrive_one_at_a_time() -> None:
    uart = MockBusioUART(timeout=0, receiver_buffer_size=64)
    uart.feed(bytes(200))
    assert uart.in_waiting == 64  # full: the rest waits "on the wire" (flow control)
    uart.reset_input_buffer()
    assert uart.in_waiting == 64
    split = MockBusioUART(timeout=0, chunk=1)
    split.feed(b"abc")
    assert split.in_waiting == 1 and split.in_waiting == 2


def test_timeout_range_and_units() -> None:
    for bad in (-1, 101, 1000):  # 1000 "ms" is a mistake CircuitPython catches
        try:
            MockBusioUART(timeout=bad)
        except ValueError:
            continue
        raise AssertionError("timeout=%r accepted" % bad)


def test_socket_uart_waits_for_late_bytes_and_holds_the_sender() -> None:
    a, b = socket.socketpair()
    uart = SocketBusioUART(a, timeout=1.0, receiver_buffer_size=16)
    try:
        threading.Timer(0.1, b.sendall, (b"late",)).start()
        buf = bytearray(4)
        assert uart.readinto(buf) == 4 and buf == b"late"
        b.sendall(bytes(range(40)))
        deadline = time.monotonic() + 2
        while uart.in_waiting < 16 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        assert uart.in_waiting == 16  # never more than the buffer holds
        assert uart.read(40) == bytes(range(40))  # the rest follows as room appears
        assert uart.write(b"up") == 2 and b.recv(2) == b"up"
    finally:
        uart.deinit()
        b.close()
