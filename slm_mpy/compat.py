"""Runtime differences, in one place: the clock and the byte transport.

MicroPython has ``time.ticks_ms``; CircuitPython and CPython have ``time.monotonic_ns``.
UARTs differ too: ``machine.UART`` (``any``), ``busio.UART`` and pyserial (``in_waiting``),
CPython sockets (``recv_into``) and plain MicroPython streams (``readinto``).
Nothing else in slm_mpy looks at which runtime it is on.
"""

try:
    import select
except ImportError:  # CircuitPython builds without select
    select = None  # type: ignore[assignment]

try:
    import micropython

    _RingIO: "Any" = getattr(micropython, "RingIO", None)
except ImportError:  # CircuitPython, CPython
    _RingIO = None


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# MicroPython's own ticks functions where they exist (native, no heap); else the same
# arithmetic over time.monotonic_ns (CircuitPython, CPython), in ticks.py, which only those
# load. Compare ticks only with ticks_diff; ticks_add moves a deadline. sleep_ms is used only
# where no byte can be lost meanwhile (UART drivers buffer).
if TYPE_CHECKING:  # one signature for the checker: plain ints
    from .ticks import sleep_ms as sleep_ms, ticks_add as ticks_add, ticks_diff as ticks_diff, ticks_ms as ticks_ms
else:
    try:
        from time import sleep_ms, ticks_add, ticks_diff, ticks_ms
    except ImportError:
        from .ticks import sleep_ms, ticks_add, ticks_diff, ticks_ms


def byte_queue(size: int) -> "Any":
    """A byte FIFO with RingIO's calls (any, write(buf, off, n), readinto(buf, n), read, readline).

    ``micropython.RingIO`` where the port has it (copies in C, allocates nothing), else
    :class:`~slm_mpy.fifo.ByteQueue` (imported only then).
    """
    if _RingIO is not None:
        return _RingIO(size)
    from .fifo import ByteQueue

    return ByteQueue(size)


_IN_WAITING = 1  # busio.UART, pyserial: read no more than in_waiting, or they block
_ANY = 2  # machine.UART: any() tells whether readinto has something
_RECV_INTO = 3  # CPython socket
_READINTO = 4  # MicroPython socket/file/stream in non-blocking mode


class Transport:
    """Wraps a UART-like object into three calls: read_into, write_some, wait.

    ``uart`` may be ``machine.UART`` (construct it with ``timeout=0``), ``busio.UART``,
    pyserial ``Serial`` (``timeout=0``), a CPython socket, or any MicroPython stream
    whose ``readinto`` returns ``None``/0 when nothing waits.
    """

    def __init__(self, uart: "Any") -> None:
        if not (hasattr(uart, "readinto") or hasattr(uart, "recv_into")) or not (hasattr(uart, "write") or hasattr(uart, "send")):
            # Caught here, not as an AttributeError from the first poll() or command.
            raise ValueError("not a UART (no readinto/recv_into and write/send): %r" % (uart,))
        self.uart = uart
        if hasattr(uart, "in_waiting"):
            self._kind = _IN_WAITING
        elif hasattr(uart, "any"):
            self._kind = _ANY
        elif hasattr(uart, "recv_into"):
            self._kind = _RECV_INTO
            uart.setblocking(False)
        else:
            self._kind = _READINTO
        self._poller: "Any" = None
        if select is not None and self._kind != _IN_WAITING:
            try:
                p = select.poll()
                p.register(uart, select.POLLIN)
                self._poller = p
            except Exception:  # not pollable on this port: fall back to short sleeps
                self._poller = None
        elif select is not None and hasattr(uart, "fileno"):  # pyserial on POSIX
            p = select.poll()
            p.register(uart.fileno(), select.POLLIN)
            self._poller = p
        self._ipoll = self._poller is not None and hasattr(self._poller, "ipoll")

    def read_into(self, buf: "Any") -> int:
        """Read what is waiting into ``buf`` (bytearray or memoryview); never blocks."""
        kind = self._kind
        uart = self.uart
        if kind == _ANY:
            if not uart.any():
                return 0
            n = uart.readinto(buf)
        elif kind == _IN_WAITING:
            waiting = uart.in_waiting
            if not waiting:
                return 0
            if waiting < len(buf):
                buf = memoryview(buf)[:waiting]
            n = uart.readinto(buf)
        elif kind == _RECV_INTO:
            try:
                n = uart.recv_into(buf)
            except OSError:  # BlockingIOError: nothing waiting
                return 0
        else:
            n = uart.readinto(buf)
        return n or 0

    def write_some(self, buf: "Any") -> int:
        """Write what the transport takes now from ``buf``; returns the count (may be 0)."""
        if self._kind == _RECV_INTO:
            try:
                n = self.uart.send(buf)
            except OSError:  # BlockingIOError: socket buffer full
                return 0
        else:
            n = self.uart.write(buf)
        return n or 0

    def wait(self, timeout_ms: int) -> None:
        """Block until bytes may be readable or ``timeout_ms`` passed (0: return at once)."""
        if timeout_ms <= 0:
            return
        p = self._poller
        if p is None:
            sleep_ms(1)
        elif self._ipoll:
            for _ in p.ipoll(timeout_ms):
                break
        else:
            p.poll(timeout_ms)

    def flush(self) -> None:
        """Wait until written bytes have left the host (so a pause is a real pause on the wire)."""
        f = getattr(self.uart, "flush", None)
        if f is not None and self._kind in (_ANY, _IN_WAITING):
            f()
