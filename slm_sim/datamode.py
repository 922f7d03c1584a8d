"""The data-mode state machine (SLM's slm_at_host.c operation modes).

States::

    COMMAND --(send command without payload)--> DATA       "\\r\\nOK\\r\\n" (by the command)
    DATA    --("+++" in the stream)-----------> COMMAND    flush what came before, "#XDATAMODE: 0"
    DATA    --(inactivity timer / full buffer)-> DATA      flush the buffer to the proxy
    DATA    --(connection lost, UDP overflow)--> DROP      3.1: "+++" to the host; 2.6: silent
    DROP    --(host sends "+++")--------------> COMMAND    "#XDATAMODE: <error>"

``DROP`` is the firmware's SLM_NULL_MODE: host bytes are discarded until the
terminator. The terminator is a pure byte pattern (no guard time); a trailing
``+`` or ``++`` is held back until the next chunk, and flushed as data if the
inactivity timer fires first (only when the buffer holds other data, as in
the firmware's timer handler).
"""
from __future__ import annotations

import enum
import logging
import threading
from typing import Callable, Optional, Protocol

from . import zerrno

log = logging.getLogger("slm_sim")

QUIT = b"+++"            # CONFIG_SLM_DATAMODE_TERMINATOR
BUF_SIZE = 4096          # CONFIG_SLM_DATAMODE_BUF_SIZE
UART_RX_BUF_SIZE = 256   # CONFIG_SLM_UART_RX_BUF_SIZE
UART_RX_MARGIN_MS = 10


class Mode(enum.Enum):
    """SLM operation modes."""

    COMMAND = "command"   # SLM_AT_COMMAND_MODE
    DATA = "data"         # SLM_DATA_MODE
    DROP = "drop"         # SLM_NULL_MODE: drop host input until "+++"


class DataModeClient(Protocol):
    """What a proxy hands to :meth:`DataMode.enter` (the firmware's datamode callback)."""

    def datamode_send(self, data: bytes, more_data: bool) -> int:
        """Send one flush; ``more_data`` means the 4096-byte buffer overflowed."""

    def datamode_exit(self, unexpected: bool) -> None:
        """Data mode ends; ``unexpected`` when the connection was lost."""


def min_time_limit(baud: int) -> int:
    """Minimum inactivity time in ms: one RX buffer at the line rate plus a margin.

    With ``baud`` 0 (an unpaced simulator) the 1 Mbaud value is used.
    """
    rate = baud if baud > 0 else 1_000_000
    return UART_RX_BUF_SIZE * (8 + 1 + 1) * 1000 // rate + UART_RX_MARGIN_MS


class DataMode:
    """Mode, buffer and terminator matcher; host bytes arrive on the work thread,
    :meth:`exit_unexpected` comes from proxy threads (hence the lock)."""

    def __init__(self, send_to_host: Callable[[str], None], baud: Callable[[], int]) -> None:
        self._send_to_host = send_to_host
        self._baud = baud
        self._lock = threading.RLock()
        # Orders downlink writes against mode changes: a proxy decides "header or
        # raw" and writes under it, and every mode change (with its OK, "+++" or
        # "#XDATAMODE") happens under it. On the device these races need a
        # preemption within microseconds; Python threads would make them common.
        self._output_lock = threading.RLock()
        self._entry_locked = False
        self.reset()

    def reset(self) -> None:
        """Boot state: command mode, no time limit chosen yet."""
        self.entry_done()
        with self._lock:
            self.mode = Mode.COMMAND
            self._client: Optional[DataModeClient] = None
            self._result = 0
            self._buf = bytearray()
            self._partial = 0        # how much of "+++" ends the data seen so far
            self._drop_match = 0     # the same, while dropping
            self.time_limit = 0      # slm_datamode_time_limit; 0 until first entry
            self.flushes = 0

    # -- queries -------------------------------------------------------------
    def in_datamode(self) -> bool:
        return self.mode is Mode.DATA

    def min_time_limit(self) -> int:
        return min_time_limit(self._baud())

    def buffered(self) -> int:
        with self._lock:
            return len(self._buf)

    # -- transitions ---------------------------------------------------------
    def enter(self, client: DataModeClient) -> int:
        """COMMAND -> DATA; returns 0 or -EINVAL (already in data mode).

        Downlink output waits until the caller has sent the command's OK and
        called :meth:`entry_done`, so raw data never precedes that OK.
        """
        with self._lock:
            if self.mode is not Mode.COMMAND or self._client is not None:
                return -zerrno.EINVAL
            self._output_lock.acquire()
            self._entry_locked = True
            self.mode = Mode.DATA
            self._buf.clear()
            self._client = client
            if self.time_limit == 0:
                self.time_limit = self.min_time_limit()
            log.debug("datamode: enter (time limit %d ms)", self.time_limit)
            return 0

    def entry_done(self) -> None:
        """The command that entered data mode has sent its final result."""
        if self._entry_locked:
            self._entry_locked = False
            self._output_lock.release()

    def downlink(self, payload: bytes, header: bytes, write: Callable[[bytes], bool]) -> bool:
        """Write network data to the host: raw in data mode, else ``header`` + payload."""
        with self._output_lock:
            return write(payload if self.mode is Mode.DATA else header + payload)

    def exit_unexpected(self, result: int) -> bool:
        """The connection died: DATA -> DROP (exit_datamode_handler). Any thread."""
        with self._lock, self._output_lock:
            if self.mode is Mode.COMMAND:
                return False
            self.mode = Mode.DROP
            client, self._client = self._client, None
            self._result = result
            log.debug("datamode: connection lost (%d), dropping input until +++", result)
            if client is not None:
                client.datamode_exit(unexpected=True)
            return True

    def _exit(self) -> None:
        """DATA or DROP -> COMMAND, reporting the stored result."""
        with self._lock, self._output_lock:
            if self.mode is Mode.COMMAND:
                return
            self.mode = Mode.COMMAND
            client, self._client = self._client, None
            if client is not None:
                client.datamode_exit(unexpected=False)
            self._buf.clear()
            result, self._result = self._result, 0
            self._partial = 0
            log.debug("datamode: exit (%d)", result)
            self._send_to_host(f"\r\n#XDATAMODE: {result}\r\n")

    # -- host input (work thread) --------------------------------------------
    def receive_data(self, chunk: bytes) -> int:
        """DATA-mode handler for one chunk; returns how many bytes it consumed.

        Bytes after a complete "+++" are left to the caller (command mode).
        """
        with self._lock:
            held = self._partial
            count = held
            still_held = held != 0
            processed = 0
            matched = False
            while processed < len(chunk) and not matched:
                if chunk[processed] == QUIT[count]:
                    count += 1
                    matched = count == len(QUIT)
                else:
                    count = 0
                    still_held = False  # the held "+"/"++" turned out to be data
                processed += 1
            if not still_held:
                self._write(QUIT[:held])
                self._write(chunk[:processed - count])
            if matched:
                self._flush(more_data=False)
                self._partial = 0
                self._exit()
            else:
                self._partial = count
            return processed

    def receive_drop(self, chunk: bytes) -> int:
        """DROP-mode handler: discard everything up to and including "+++"."""
        processed = 0
        while processed < len(chunk):
            byte = chunk[processed]
            processed += 1
            if byte == QUIT[self._drop_match]:
                self._drop_match += 1
                if self._drop_match == len(QUIT):
                    self._drop_match = 0
                    self._exit()
                    return processed
            else:
                self._drop_match = 0
        return processed

    def on_inactivity(self) -> None:
        """Inactivity timer: flush the buffer, a held partial terminator counting as data."""
        with self._lock:
            if self.mode is not Mode.DATA or not self._buf:
                return
            if self._partial:
                self._write(QUIT[:self._partial])
                self._partial = 0
            self._flush(more_data=False)

    # -- buffer ------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            room = BUF_SIZE - len(self._buf)
            if room == 0:
                self._flush(more_data=True)  # buffer full: send now
                continue
            self._buf += data[pos:pos + room]
            pos += room

    def _flush(self, more_data: bool) -> None:
        if not self._buf:
            return
        data = bytes(self._buf)
        self._buf.clear()
        self.flushes += 1
        log.debug("datamode: flush %d bytes%s", len(data), " (buffer full)" if more_data else "")
        if self._client is None:
            log.info("datamode: no handler, %d dropped", len(data))
            return
        sent = self._client.datamode_send(data, more_data)
        if sent < 0:
            log.info("datamode: raw send failed, %d dropped", len(data))
