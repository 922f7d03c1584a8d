"""The AT engine: a polling state machine over one fixed receive buffer.

``poll()`` reads what waits on the UART into one preallocated receive buffer and parses
it. The parser works on bytes, chunk by chunk (``bytearray.find``), in one of four states:

* ``LINE``     -- assemble a text line: final result, information line, URC or payload header.
* ``PAYLOAD``  -- after ``#XTCPDATA: <n>``/``#XUDPDATA: <n>[,"ip",port]``: hand exactly ``n``
  raw bytes to the connection, whatever they contain.
* ``SKIP``     -- an over-long line filled the buffer: drop bytes up to its LF (resync).
* ``DATAMODE`` -- the host is streaming in data mode: raw downlink bytes go to the sending
  connection; watch for the modem's ``+++`` (connection lost) and ``#XDATAMODE: <n>``.

Commands: one at a time (SLM requires it). URCs: ``on(prefix, callback)``. The TCP/UDP layer
registers itself through ``route``/``tcp``/``udp``; this module never imports it.
"""

from .compat import Transport, ticks_diff, ticks_ms
from .errors import EBUSY, ENOBUFS, ATError, ModemReset, check_int, timeout_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

LINE = 0
PAYLOAD = 1
SKIP = 2
DATAMODE = 3

_TCPDATA = b"#XTCPDATA: "
_UDPDATA = b"#XUDPDATA: "
_DM_URC = b"\r\n#XDATAMODE: "
_DM_URC_LEN = 14
_CRLF_X = b"\r\n#X"
_READY = b"Ready\r\n"
_PARK = 8  # a held partial banner (and the noise before it) fits in front of this offset
REBOOT_QUIET_MS = 500  # a "Ready" banner followed by this much silence is a reboot
_QUIT = b"+++"
_LF = b"\n"

MAX_CHUNK = 2048  # SLM's receive buffer: no #XTCPDATA/#XUDPDATA frame is larger
WRITE_CHUNK = 512  # keep each blocking UART write short so reception goes on between them
MIN_RX = 256  # smallest receive buffer: it must hold every line the driver parses itself


def parse_int(buf: "Any", i: int, end: int, at: "list[int]") -> int:
    """Parse an optionally negative decimal at ``buf[i:end]``; ``at[0]`` gets the next index.

    Works on bytes without allocating (``at`` is the caller's preallocated one-item list);
    ``at[0] == i`` means no digits were found.
    """
    neg = i < end and buf[i] == 45  # '-'
    j = i + 1 if neg else i
    start = j
    v = 0
    while j < end:
        c = buf[j]
        if c < 48 or c > 57:
            break
        v = v * 10 + c - 48
        j += 1
    if j == start or j - start > 9:
        at[0] = i
        return 0
    at[0] = j
    return -v if neg else v


class Engine:
    """AT command engine for an nRF91 running Serial LTE Modem firmware.

    Usage::

        modem = SLM(uart)                 # SLM is Engine plus the TCP/UDP factories
        modem.wait_ready(timeout_ms=10000)
        print(modem.at("AT#XSLMVER"))     # ['#XSLMVER: "3.1.0","2.7.0"']
        modem.on("+CEREG", lambda line: print("network:", line))
    """

    _parse_addr: "Any" = None  # udp.parse_addr once the first sender address came

    # State that changes rarely starts as a class attribute: an instance attribute is made
    # only when it is first set, which keeps the instance's dict small.
    _suspect = False  # data was lost and no intact header seen since: lines may be payload
    _ready_late = False  # a "Ready" line while _suspect: a reboot only if silence follows
    _mismatch: "Any" = None  # connection whose frame end looked wrong: lost, unless "Ready" follows
    _desync = False  # a command timed out: the next one is preceded by a probe
    _dm_unsure = False  # a command that enters data mode timed out: its OK may be lost
    _unquote = False  # the last probe got no answer: SLM's line may be inside quotes
    _probe_late = False  # a probe timed out: its reply may still come, after a later probe
    _stale_ok = False  # such a reply's "#XSLMVER" line came: the next final is its OK
    dm_sink: "Any" = None  # the connection streaming in data mode
    dm_result: "int | None" = None  # #XDATAMODE value once data mode ended
    dm_quit = False  # the modem sent +++ (connection lost) while we streamed
    dm_exiting = False  # we sent +++ and wait for #XDATAMODE
    _dm_fresh = False  # in data mode, and no raw byte arrived yet
    _dm_parse: "Any" = None  # dmrx.parse, loaded with the first data mode
    _text: "Any" = None  # the quoted payload of the pending command (see command())
    ready_seen = False  # a "Ready" banner came (wait_ready() resets it)
    # Counters a robust application may log.
    garbage_lines = 0
    overlong_lines = 0
    stray_results = 0
    orphan_bytes = 0
    reboots = 0
    _pause_ms = 0  # modem.datamode_pause_ms() caches SLM's answer here

    def __init__(self, uart: "Any", rx_size: int = 2560) -> None:
        self.transport = Transport(uart)
        self._read = self.transport.read_into  # bound once: no allocation per poll
        # The receive buffer: one preallocated bytearray filled by readinto, never grown.
        # Unread bytes are rxbuf[head:tail], always contiguous (0 <= head <= tail <= rxsize):
        # poll() moves a short remainder to the front instead of wrapping, so one
        # bytearray.find covers a whole line or pattern.
        self.rxbuf = bytearray(check_int("rx_size", rx_size, MIN_RX, 0x3FFFFFFF))
        self.rxmv = memoryview(self.rxbuf)
        self.rxpark = self.rxmv[_PARK:]  # where reads go behind a parked partial banner
        self.rxsize = rx_size
        self.head = 0
        self.tail = 0
        self.state = LINE
        self._scanned = 0  # bytes after head already searched for LF (survives compaction)
        self._check_end: "Any" = None  # connection whose frame just ended: check the CR LF
        self._last2 = 0  # the last two bytes of that frame (for _wrong_end)
        self._frame_len = 0  # and its stated length
        self._held = False  # a "Ready" is held back in payload or data mode (ready_cut)
        self._quiet_since = 0  # ticks of the last byte received
        self._at = [0]  # parse_int's out-parameter, allocated once
        self._pay_left = 0
        self._pay_sink: "Any" = None
        self._polling = False
        # The one pending command.
        self._cmd: "str | None" = None
        self._cmd_prefix = ""
        self._cmd_dm: "Any" = None  # connection that enters data mode when OK arrives
        self._lines: "list[str]" = []
        self._final: "str | None" = None
        self._code: "int | None" = None
        self._marker: "str | None" = None  # finals before this info line are stale
        self._busy: "str | None" = None  # command begun and not finished
        self._next_dm: "Any" = None
        self.sink_full = False  # a connection refused bytes: parsing waits for its reader
        self._resume = LINE  # the state after a payload: LINE, or DATAMODE for a frame in it
        # Dispatch.
        self._handlers: "dict[str, Callable[[str], None]]" = {}
        self._internal: "dict[str, Callable[[str], None]]" = {}
        self.tcp: "Any" = None  # the TCP proxy object (client or server), payload sink
        self.udp: "Any" = None  # the UDP proxy object

    # ------------------------------------------------------------------ public API

    def on(self, prefix: str, callback: "Callable[[str], None] | None") -> None:
        """Call ``callback(line)`` for every URC starting with ``prefix`` (e.g. ``"+CEREG"``).

        ``prefix`` is the part before ``:``. ``""`` catches lines nobody else handles.
        ``None`` unsubscribes. Callbacks run inside ``poll()``: keep them short and do not
        send commands from them (that raises ``OSError(EBUSY)``).
        """
        if not isinstance(prefix, str) or ":" in prefix or "\n" in prefix:
            # "+CEREG:" would never match: URCs are dispatched by the text before the colon.
            raise ValueError("prefix must be a URC name without ':', like \"+CEREG\": %r" % (prefix,))
        if callback is None:
            self._handlers.pop(prefix, None)
        elif not callable(callback):
            raise ValueError("callback must be callable or None: %r" % (callback,))
        else:
            self._handlers[prefix] = callback

    def detach(self, sink: "Any") -> None:
        """Layer hook: ``sink`` takes no more payload; bytes still due to it are discarded."""
        if self._pay_sink is sink:
            self._pay_sink = None
        if self.dm_sink is sink:
            self.dm_sink = None
        self.sink_full = False

    def route(self, prefix: str, handler: "Callable[[str], None] | None") -> None:
        """Layer hook: the TCP/UDP objects receive their URCs here (kept apart from ``on``)."""
        if handler is None:
            self._internal.pop(prefix, None)
        else:
            self._internal[prefix] = handler

    def poll(self) -> bool:
        """Read what waits on the UART and parse it; never blocks. True if bytes arrived."""
        if self._polling:
            return False  # re-entered from a callback: the outer poll goes on
        self._polling = True
        try:
            head = self.head
            tail = self.tail
            size = self.rxsize
            if head == tail:
                self.head = tail = 0
            elif head and size - tail < size >> 2:
                # Little room left at the end: move the unread bytes (normally a partial line
                # or header, so the copy is short) to the front.
                self.rxbuf[0 : tail - head] = self.rxmv[head:tail]
                self.head = 0
                tail -= head
            n = 0
            if tail < size:  # full: stop reading the UART so flow control holds the modem
                # Only a partial line needs a memoryview slice (a small allocation).
                n = self._read(self.rxbuf if not tail else self.rxpark if tail == _PARK else self.rxmv[tail:])
            self.tail = tail + n
            if n:
                self._quiet_since = ticks_ms()
            if self.head < self.tail:
                self._parse()
            if (self._held or self._ready_late) and not n and ticks_diff(ticks_ms(), self._quiet_since) > REBOOT_QUIET_MS:
                from .faults import held_reboot  # a reboot mid-frame: rare

                held_reboot(self)
        finally:
            self._polling = False
        return n > 0

    def at(self, command: str, timeout_ms: int = 5000) -> "list[str]":
        """Send ``command`` and return its information lines (``str``, CR/LF stripped).

        Raises :class:`ATError` on ``ERROR``/``+CME ERROR``/``+CMS ERROR``,
        ``OSError(ETIMEDOUT)`` without a final result in time, :class:`ModemReset` if the
        modem reboots meanwhile, and ``ValueError`` for a command that is not a single AT
        command (CR/LF outside quotes, unbalanced quotes, no ``AT`` prefix) or a bad timeout.
        """
        from .control import check_command  # loaded on the first at(): not needed by TCP/UDP

        check_command(command)
        return self.command(command, check_int("timeout_ms", timeout_ms, 0, 0x3FFFFFFF))

    def wait_ready(self, timeout_ms: int = 10000) -> None:
        """Wait for the ``Ready`` banner (garbage before it tolerated) or a working ``AT``.

        From a URC callback, unless ``Ready`` was just seen, it raises ``OSError(EBUSY)`` at
        once: nothing can arrive before the callback returns.
        """
        from .control import wait_ready  # once per application: kept off the import path

        wait_ready(self, timeout_ms)

    # ------------------------------------------------------------------ commands

    def command(self, cmd: str, timeout_ms: int, datamode: "Any" = None, text: "Any" = None) -> "list[str]":
        """Layer API: send an already checked command and wait for its result.

        ``datamode`` is the connection that takes the raw bytes if ``OK`` enters data mode.
        ``text`` (bytes-like, already checked) makes the command ``<cmd>="<text>"``; it is
        written from the caller's buffer, so a long payload is never copied.
        """
        self.begin(cmd, datamode, text)
        start = ticks_ms()
        try:
            while True:
                lines = self.finish()
                if lines is not None:
                    return lines
                if self.poll():
                    continue
                if self.sink_full:
                    # The reply sits behind received data that nobody reads while we block.
                    self.abandon(timeout_ms)
                    raise OSError(ENOBUFS, "%s: reply stuck behind unread received data: read it first" % cmd)
                left = timeout_ms - ticks_diff(ticks_ms(), start)
                if left <= 0:
                    raise self.abandon(timeout_ms)
                self.transport.wait(left if left < 20 else 20)
        except BaseException:
            if self._busy:  # a URC callback raised: the command must not stay pending
                self.abandon(0)
            raise

    def begin(self, cmd: str, datamode: "Any" = None, text: "Any" = None) -> None:
        """Non-blocking half of :meth:`command`: write ``cmd``; then poll and call ``finish``."""
        if self._polling:
            raise OSError(EBUSY, "command %r sent from a URC callback" % cmd)
        if self._busy:
            raise OSError(EBUSY, "command %r pending" % self._busy)
        if self.state == DATAMODE:
            raise OSError(EBUSY, "modem is in data mode")
        self._busy = cmd
        self._next_dm = datamode
        self._text = text
        if self._desync:
            from .faults import probe  # a command timed out earlier: resynchronise first

            probe(self)
        else:
            self._send(cmd, datamode, None, text)

    def _send(self, cmd: str, datamode: "Any", marker: "str | None", text: "Any" = None) -> None:
        # The name ends at "=" or "?". find(), not a loop over characters: indexing a str
        # interns each character as a qstr, RAM that is never freed.
        i = cmd.find("=")
        n = cmd.find("?")
        if i < 0 or 0 <= n < i:
            i = n
        self._cmd_prefix = cmd[2:i] if i >= 0 else cmd[2:]
        self._lines = []
        self._final = None
        self._code = None
        self._marker = marker
        self._cmd_dm = datamode
        self._cmd = cmd
        try:
            if text is None:
                self.write(cmd.encode() + b"\r\n")
            else:
                self.write(cmd.encode() + b'="')
                self.write(text)
                self.write(b'"\r\n')
        except BaseException:
            self._cmd = None
            self._busy = None
            self._text = None
            self._desync = True
            raise

    def finish(self) -> "list[str] | None":
        """The pending command's information lines once it ended, else None; raises its error."""
        final = self._final
        if final is None:
            return None
        cmd = self._busy or ""
        if self._desync and final == "OK" and cmd:
            self._desync = False
            self._send(cmd, self._next_dm, None, self._text)  # probe done: now the real command
            return None
        self._busy = None
        self._cmd_dm = None
        self._text = None
        if self._probe_late:
            self._probe_late = False  # SLM answers in order: no probe reply can follow this one
        lines = self._lines
        if final == "OK":
            return lines
        if final == "Ready":
            # The rebooted modem may still answer a copy of the command it saw after booting.
            self._desync = True
            if self._cmd_prefix == "#XSLMVER":
                # That answer would look just like the next probe's: as after a probe that
                # timed out slow, a #XSLMVER line the pending command does not own makes
                # the next final stale.
                self._probe_late = True
            raise ModemReset("modem rebooted during %s" % cmd)
        raise ATError(final, self._code, cmd, lines)

    def abandon(self, timeout_ms: int) -> OSError:
        """Give up on the pending command (timeout); its late reply will be recognised.

        Returns the ``OSError(ETIMEDOUT)`` to raise.
        """
        from .faults import abandon  # only on a timeout

        return abandon(self, timeout_ms)

    def write(self, data: "Any", timeout_ms: int = 10000, chunk: int = WRITE_CHUNK) -> None:
        """Write all of ``data``, receiving between chunks so the modem is never stuck on us.

        ``chunk``: the most written before receiving again; a UDP datagram in data mode goes
        in one piece, since a gap longer than SLM's flush timer would split it.
        """
        mv = data if type(data) is memoryview else memoryview(data)  # a view is not wrapped again
        n = len(mv)
        off = 0
        start = ticks_ms()
        write_some = self.transport.write_some
        while off < n:
            end = off + chunk
            k = write_some(mv[off:end] if (off or end < n) else mv)
            off += k
            self.poll()  # the modem may be telling us something (its "+++", a reboot)
            if k == 0:
                if ticks_diff(ticks_ms(), start) > timeout_ms:
                    raise timeout_error("UART write stalled for %d ms (%d of %d bytes sent)" % (timeout_ms, off, n))
                self.transport.wait(1)

    # ------------------------------------------------------------------ parser

    def _parse(self) -> None:
        while self.head < self.tail:
            state = self.state
            if state == LINE:
                if not self._parse_line():
                    return
            elif state == PAYLOAD:
                if not self._parse_payload():
                    return
            elif state == DATAMODE:
                if not self._dm_parse(self):
                    return
            else:
                self._parse_skip()

    def _parse_line(self) -> bool:
        # Find the LF that ends the line; without one, wait for more bytes (or resync if the
        # line already fills the whole buffer).
        buf = self.rxbuf
        head = self.head
        tail = self.tail
        sink = self._check_end
        if sink is not None:
            # Every SLM message after a payload begins with CR LF. Anything else means the
            # frame's length was wrong (a byte lost or the header damaged on the UART), unless
            # it is the modem rebooting: decided once that line is complete.
            if tail - head < 2:
                return False
            self._check_end = None
            if self._wrong_end(head):
                self._mismatch = sink
        nl = buf.find(_LF, head + self._scanned, tail)
        if nl < 0:
            if tail - head >= self.rxsize:
                self.overlong_lines += 1
                self.head = self.tail = 0
                self._scanned = 0
                self.state = SKIP
                return False
            self._scanned = tail - head
            return False
        self._scanned = 0
        self.head = nl + 1
        end = nl
        sink = self._mismatch
        if sink is not None:
            self._mismatch = None
            if buf.find(b"Ready", head, nl) < 0:
                self.garbage_lines += 1
                # The frame was handed on as it arrived: say which bytes are suspect.
                self._suspect = True
                sink.lost("bad frame length: last %d bytes may be wrong" % self._frame_len)
        if end > head and buf[end - 1] == 13:
            end -= 1
        while head < end and buf[head] == 13:
            head += 1
        if head < end:
            self._on_line(head, end)
        return True

    def _wrong_end(self, i: int) -> bool:
        # Do the bytes at i, right after a frame, show that its stated length was wrong?
        # Every SLM message begins with CR LF; one damaged byte of it proves nothing.
        buf = self.rxbuf
        a = buf[i]
        if a == 13 or buf[i + 1] == 10:
            return False
        last2 = self._last2
        if a == 10:  # the CR is missing: lost, or swallowed by a frame one byte too long
            return last2 & 255 == 13
        if a == 35 or a == 43 or a == 37:  # '#', '+', '%': the CR LF is missing...
            c = buf[i + 1]
            if c < 65 or c > 90:
                return True  # ...but no message name follows ("#X", "+C", "%X"): payload
            return last2 == 0x0D0A
        return True

    def _parse_skip(self) -> None:
        nl = self.rxbuf.find(_LF, self.head, self.tail)
        if nl < 0:
            self.head = self.tail = 0
        else:
            self.head = nl + 1
            self.state = LINE

    def _on_line(self, s: int, e: int) -> None:
        buf = self.rxbuf
        if buf.startswith(_TCPDATA, s):
            self._on_header(s + 11, e, self.tcp, False)
            return
        if buf.startswith(_UDPDATA, s):
            self._on_header(s + 11, e, self.udp, True)
            return
        k = buf.find(b"PDATA: ", s, e)
        if 0 <= k - s <= 8:
            # A frame header whose start was lost or damaged: its payload will be read as
            # lines and dropped; tell the connection it was meant for.
            udp = k - s > 1 and buf[k - 2] == 85  # 'U'
            self._on_header(e, e, self.udp if udp else self.tcp, udp)
            return
        try:
            line = str(self.rxmv[s:e], "utf-8")
        except UnicodeError:
            # Not text: line noise, or a byte of garbage before the boot banner.
            if e - s >= 5 and buf.find(b"Ready", e - 5, e) >= 0:
                self._on_ready(False)
            else:
                self.garbage_lines += 1
            return
        if line == "OK" or line == "ERROR":
            self._on_final(line, None)
        elif line.startswith("+CME ERROR:") or line.startswith("+CMS ERROR:"):
            at = self._at
            v = parse_int(buf, s + 12, e, at)
            self._on_final(line, v if at[0] > s + 12 else None)
        elif line.endswith("Ready"):  # no other line ends so; garbage may precede it
            self._on_ready(False)
        else:
            self._dispatch(line)

    def _on_header(self, i: int, e: int, sink: "Any", udp: bool) -> None:
        buf = self.rxbuf
        at = self._at
        n = parse_int(buf, i, e, at)
        j = at[0]
        addr: "Any" = None
        if j > i and udp and j < e:
            pa = self._parse_addr
            if pa is None:
                # The sender's address is UDP only: its parser lives in udp.py, loaded once.
                from .udp import parse_addr as pa

                self._parse_addr = pa
            addr = pa(buf, j, e)
            if addr is None:
                j = i  # malformed address part
        elif j != e:
            j = i
        if j == i or n <= 0 or n > MAX_CHUNK:
            # A header we cannot trust: its payload will be read as lines and dropped until
            # the stream resynchronises; tell the connection that data was lost.
            if e - i >= 5 and buf.find(b"Ready", e - 5, e) >= 0:
                self._on_ready(False)  # the modem rebooted while it wrote this header
                return
            self.garbage_lines += 1
            self._suspect = True
            if sink is not None:
                sink.lost("unreadable %s header" % ("#XUDPDATA" if udp else "#XTCPDATA"))
            return
        if self._suspect or self._ready_late:
            # An intact header: the stream is back in step. (Written only when set: every
            # instance attribute makes the engine's attribute table fuller, and lookups of
            # methods and class attributes slower; a full table costs about 10 % here.)
            self._suspect = self._ready_late = False
        if sink is not None and sink.closed:
            sink = None  # its end was reported: later frames for it are damage, drop them
        self._pay_left = n
        self._pay_sink = sink
        self._last2 = 10  # the header's LF
        self._frame_len = n
        if sink is not None:
            sink.begin(n, addr)
        self.state = PAYLOAD

    def _parse_payload(self) -> bool:
        head = self.head
        n = self.tail - head
        left = self._pay_left
        if n > left:
            n = left
        n = self.ready_cut(head, n, head + left)
        if not n:
            k = self.tail - head
            if self._held and k <= _PARK and self.tail != _PARK:
                # A partial banner is held: park it to end at _PARK, so the next read goes to
                # the preallocated rxpark view instead of a new memoryview slice.
                buf = self.rxbuf
                d = _PARK - k
                if d > head:
                    while k:
                        k -= 1
                        buf[d + k] = buf[head + k]
                else:
                    for i in range(k):
                        buf[d + i] = buf[head + i]
                self.head = d
                self.tail = _PARK
            return False
        sink = self._pay_sink
        if sink is None:
            self.orphan_bytes += n
            k = n
        else:
            k = sink.feed(self.rxmv, head, n)
        self.sink_full = k < n
        head += k
        self.head = head
        if left - k < 2 and k:  # the frame's last two bytes are needed by _wrong_end
            buf = self.rxbuf
            self._last2 = (buf[head - 2] if k > 1 else self._last2 & 255) << 8 | buf[head - 1]
        left -= k
        self._pay_left = left
        if left == 0:
            self.state = self._resume
            if self._resume == LINE:
                self._check_end = sink  # SLM's next output starts with CR LF: verify it
            self._resume = LINE
            return True
        return k > 0 and head < self.tail

    def ready_cut(self, start: int, n: int, frame_end: int) -> int:
        """How many of the ``n`` raw bytes at ``start`` can be handed on now.

        A modem that reboots in the middle of a frame or of data mode sends ``Ready`` into
        what looks like payload and then falls silent. So a ``Ready`` banner that is the last
        thing received is held back: if more bytes follow, it was payload after all; if the
        line stays quiet for REBOOT_QUIET_MS, poll() treats it as the reboot it is. Final
        results after the banner do not count as more bytes: a host still writing a payload
        reaches the rebooted modem's command line, which answers it with ERROR. With
        a frame still going on (``frame_end`` beyond the bytes at hand; -1 in data mode), a
        partial banner at the end is held as well. A banner that ends a frame exactly is
        that frame's payload.
        """
        buf = self.rxbuf
        end = start + n
        more = frame_end < 0 or end < frame_end
        r = buf.find(_READY, start, end)
        if r < 0 and more:
            # A trailing "R" is held too: a UART that hands out a byte or two per read splits
            # a banner right after it often. In a frame the held bytes are parked so that the
            # next read allocates nothing (_parse_payload); in data mode it costs a slice.
            r = buf.find(b"R", end - 6 if end - 6 > start else start, end)
            while r >= 0 and not _is_prefix(buf, r, end, _READY):
                r = buf.find(b"R", r + 1, end)
        tail = self.tail
        if r < 0 or r + 7 == frame_end or (r + 7 < tail and not _results_only(buf, r + 7, tail)):
            self._held = False
            return n
        self._held = True
        # A booting nRF91 may put a byte or two of noise before its banner, and the reboot may
        # have cut a line SLM was writing ("\r\n#XTCPDATA" at a mode switch): hold them too.
        h = r - 2 if r - 2 > start else start
        c = buf.find(b"\r\n#", r - 24 if r - 24 > start else start, r)
        while c >= 0 and c < h:
            if buf.find(_LF, c + 2, r) < 0:
                h = c
                break
            c = buf.find(b"\r\n#", c + 1, r)
        return h - start

    def quit_datamode(self, timeout_ms: int = 10000) -> None:
        """Layer API: send the ``+++`` terminator; ``dm_result`` is set when SLM confirms."""
        self.dm_exiting = True
        self.write(_QUIT, timeout_ms)

    def _end_datamode(self) -> None:
        sink = self.dm_sink
        self.dm_sink = None
        self.dm_exiting = False
        self._resume = LINE
        self.state = LINE
        if sink is not None:
            sink.end_raw()

    def leave_datamode(self) -> None:
        """Layer API: give up on data mode after its exit timed out; next command resyncs."""
        self._end_datamode()
        self._desync = True

    def _on_final(self, line: str, code: "int | None") -> None:
        if self._cmd is None or self._marker is not None or self._stale_ok:
            self._stale_ok = False
            self.stray_results += 1  # a late reply to a command that timed out
            return
        self._final = line
        self._code = code
        self._cmd = None  # lines after the final result are URCs again
        if line == "OK" and self._cmd_dm is not None:
            if self._dm_parse is None:
                from .dmrx import parse  # first data mode: load its parser now

                self._dm_parse = parse
            # Bytes after this OK are already data-mode traffic: switch before parsing on.
            self.dm_sink = sink = self._cmd_dm
            self.dm_result = None
            self.dm_quit = False
            self.dm_exiting = False
            self.state = DATAMODE
            self._dm_fresh = True
            sink.begin(-1, None)  # raw bytes from here on carry no frame headers

    def _on_ready(self, sure: bool = True) -> None:
        if not sure and self._suspect:
            # After a loss the parser may be reading payload as lines, and payload can say
            # "Ready". A real reboot is followed by silence (poll() decides), not by frames.
            self._ready_late = True
            return
        self._held = self._suspect = self._ready_late = False
        # Lines the modem read while it booted (a command or probe that timed out while it
        # was starting) may still be answered after the banner: a desync and a late probe
        # outlive it, so the next command is preceded by a probe. The command line itself
        # is fresh: not in data mode, not inside quotes.
        if self._stale_ok or self._unquote or self._dm_unsure:
            self._stale_ok = self._unquote = self._dm_unsure = False
        self._pause_ms = 0  # SLM's data-mode flush time, asked again: a rebooted modem has its defaults
        self.ready_seen = True
        self.reboots += 1
        self._pay_sink = None
        if self.dm_sink is not None:
            self.dm_result = -104
        self._end_datamode()
        if self._cmd is not None:
            self._final = "Ready"
            self._marker = None
            # Finals after the banner are the rebooted modem's, not this command's (a later
            # OK in the same read must not turn the failure into a success).
            self._cmd = None
        for proxy in (self.tcp, self.udp):
            if proxy is not None:
                proxy.modem_reset()
        h = self._handlers.get("Ready")
        if h is not None:
            h("Ready")

    def _dispatch(self, line: str) -> None:
        i = line.find(":")
        prefix = line[:i] if i > 0 else line
        if self._cmd is not None:
            if prefix == self._cmd_prefix:
                if prefix == self._marker:
                    self._marker = None
                self._lines.append(line)
                return
        if prefix == "#XSLMVER" and self._probe_late:
            # Not the pending command's: the reply to a probe after one that timed out slow
            # (not swallowed). That probe took the older look-alike reply for its own and
            # may have sent the real command already: the OK after this line is stale.
            self._stale_ok = True
            return
        if prefix == "#XDATAMODE":
            v = parse_int(line.encode(), 12, len(line), self._at)
            self.dm_result = v if self._at[0] > 12 else -5
        handled = False
        h = self._internal.get(prefix)
        if h is not None:
            h(line)
            handled = True
        h = self._handlers.get(prefix)
        if h is not None:
            h(line)
            handled = True
        if handled:
            return
        if self._cmd is not None:
            self._lines.append(line)
            return
        h = self._handlers.get("")
        if h is not None:
            h(line)


def _results_only(buf: "Any", i: int, end: int) -> bool:
    # Is buf[i:end] nothing but "\r\nERROR\r\n"/"\r\nOK\r\n" (the last one maybe cut)?
    while i < end:
        if buf.startswith(b"\r\nERROR\r\n", i):
            i += 9
        elif buf.startswith(b"\r\nOK\r\n", i):
            i += 6
        else:
            return _is_prefix(buf, i, end, b"\r\nERROR\r\n") or _is_prefix(buf, i, end, b"\r\nOK\r\n")
    return True


def _is_prefix(buf: "Any", i: int, end: int, pattern: bytes) -> bool:
    # True if buf[i:end] is the beginning of pattern (or empty).
    j = 0
    while i < end:
        if j >= len(pattern) or buf[i] != pattern[j]:
            return False
        i += 1
        j += 1
    return True
