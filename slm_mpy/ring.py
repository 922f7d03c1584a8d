"""A fixed receive buffer that never grows and never allocates per byte.

Invariant: unread bytes are ``buf[head:tail]``, always contiguous, ``0 <= head <= tail <= size``.
Keeping them contiguous (compacting instead of wrapping) means ``bytearray.find`` can search a
whole line or pattern in one call, with no second search across a wrap point.

Allocation: ``fill``, ``write`` and ``readinto`` allocate one small memoryview slice per call
(``fill`` none when the buffer is empty); index arithmetic allocates nothing. On MicroPython a
connection's queue is a ``micropython.RingIO`` instead, which copies without allocating.
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

    # The methods below have the names and meaning of micropython.RingIO's, so a connection's
    # queue can be either (see compat.byte_queue).

    def any(self) -> int:
        """Unread bytes."""
        return self.tail - self.head

    def write(self, src: "object", start: int, n: int) -> int:
        """Copy up to ``n`` bytes of ``src[start:]`` (a memoryview) in; returns how many fit."""
        if self.size - self.tail < n:
            self._make_room()
            room = self.size - self.tail
            if n > room:
                n = room
        if n:
            t = self.tail
            self.buf[t : t + n] = src[start : start + n]  # type: ignore[index]
            self.tail = t + n
        return n

    def readinto(self, dest: "object", n: int) -> int:
        """Move up to ``n`` unread bytes into ``dest``; returns the count."""
        avail = self.tail - self.head
        if n > avail:
            n = avail
        if n:
            h = self.head
            dest[0:n] = self.mv[h : h + n]  # type: ignore[index]
            self.head = h + n
            if self.head == self.tail:
                self.head = self.tail = 0
        return n

    def read(self, n: int) -> bytes:
        """Remove up to ``n`` unread bytes and return them as ``bytes`` (one allocation)."""
        avail = self.tail - self.head
        if n > avail:
            n = avail
        h = self.head
        out = bytes(self.mv[h : h + n])
        self.head = h + n
        if self.head == self.tail:
            self.head = self.tail = 0
        return out

    def readline(self, n: int) -> bytes:
        """Like ``read``, but stop after the first ``\\n``."""
        nl = self.buf.find(b"\n", self.head, self.tail)
        if nl >= 0 and nl + 1 - self.head < n:
            n = nl + 1 - self.head
        return self.read(n)

    def clear(self) -> None:
        """Forget all unread bytes."""
        self.head = self.tail = 0
