"""A connection's receive queue where ``micropython.RingIO`` is missing (CircuitPython, CPython).

:class:`ByteQueue` has the calls of ``micropython.RingIO`` (same names and meaning), so a
connection's queue can be either (see ``compat.byte_queue``). ``write`` and ``readinto``
allocate one small memoryview slice per call.
"""


class ByteQueue:
    """A FIFO of bytes in one preallocated buffer.

    Unread bytes are ``buf[head:tail]``, always contiguous (``0 <= head <= tail <= size``):
    compacting instead of wrapping lets ``bytearray.find`` search them in one call.
    """

    def __init__(self, size: int) -> None:
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.size = size
        self.head = 0
        self.tail = 0

    def _make_room(self) -> None:
        # Move the unread bytes to the front; normally few, so the copy is short.
        head = self.head
        n = self.tail - head
        if head and n:
            self.buf[0:n] = self.mv[head : self.tail]
        self.head = 0
        self.tail = n

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

