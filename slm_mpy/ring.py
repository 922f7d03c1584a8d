"""A fixed receive buffer that never grows and never allocates per byte.

Invariant: unread bytes are ``buf[head:tail]``, always contiguous, ``0 <= head <= tail <= size``.
Keeping them contiguous (compacting instead of wrapping) means ``bytearray.find`` can search a
whole line or pattern in one call, with no second search across a wrap point.

Allocation: ``fill`` allocates one small memoryview slice per call (none when the buffer is
empty); index arithmetic allocates nothing.

This is the engine's receive buffer. The FIFO calls a connection's queue needs are in
``fifo.py`` (:class:`~slm_mpy.fifo.ByteQueue`), loaded only where a port lacks
``micropython.RingIO`` or for UDP: the TCP path on MicroPython never pays for them.
"""


class RingBuffer:
    """One preallocated ``bytearray`` filled by ``readinto`` and consumed by index arithmetic."""

    def __init__(self, size: int) -> None:
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.size = size
        self.head = 0
        self.tail = 0

    def __len__(self) -> int:
        return self.tail - self.head

    def room(self) -> int:
        """Bytes that can still be appended (after a compaction, if one is due)."""
        return self.size - self.tail + self.head

    def _make_room(self) -> None:
        # Move the unread bytes to the front when little space is left at the end; the unread
        # part is normally a partial line or header, so the copy is short.
        head = self.head
        if head == 0:
            return
        n = self.tail - head
        if n:
            self.buf[0:n] = self.mv[head : self.tail]
        self.head = 0
        self.tail = n

    def fill(self, read_into: "object") -> int:
        """Append what ``read_into(buffer)`` delivers; returns the count (0 when full or idle)."""
        if self.head == self.tail:
            self.head = self.tail = 0
        elif self.size - self.tail < (self.size >> 2):
            self._make_room()
        tail = self.tail
        if tail == self.size:
            return 0  # full: stop reading the UART so flow control holds the modem
        if tail == 0:
            n = read_into(self.buf)  # type: ignore[operator]
        else:
            n = read_into(self.mv[tail:])  # type: ignore[operator]
        self.tail = tail + n
        return int(n)

    def clear(self) -> None:
        """Forget all unread bytes."""
        self.head = self.tail = 0
