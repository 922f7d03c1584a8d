"""The modem's processing thread, modelled on Zephyr's system work queue.

One thread handles, in order: bytes from the host (commands and data mode
run synchronously here, so commands are processed one at a time), timers
(data-mode inactivity flush, network attach, delayed reset) and work posted
from other threads (proxy threads, the control port).
"""
from __future__ import annotations

import collections
import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from typing import Callable, Deque, List, Optional, Tuple

log = logging.getLogger("slm_sim")

Callback = Callable[[], None]


class Timer:
    """Handle of a scheduled callback; :meth:`cancel` is safe from any thread."""

    def __init__(self, deadline: float, callback: Callback) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class WorkQueue:
    """Single-threaded event loop: one optional reader fd, timers and posted callables."""

    def __init__(self, name: str) -> None:
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._posted: Deque[Callback] = collections.deque()
        self._timers: List[Tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._reader: Optional[Tuple[int, Callback]] = None
        self._reader_registered = False
        self._reader_resume = 0.0
        self._stopping = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    # -- API (any thread) --------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def in_thread(self) -> bool:
        return threading.current_thread() is self.thread

    def post(self, callback: Callback) -> None:
        """Run ``callback`` on the work thread as soon as possible."""
        with self._lock:
            self._posted.append(callback)
        self._wake()

    def schedule(self, delay: float, callback: Callback) -> Timer:
        """Run ``callback`` on the work thread after ``delay`` seconds."""
        timer = Timer(time.monotonic() + delay, callback)
        with self._lock:
            heapq.heappush(self._timers, (timer.deadline, next(self._seq), timer))
        self._wake()
        return timer

    def cancel_all_timers(self) -> None:
        with self._lock:
            for _, _, timer in self._timers:
                timer.cancel()
            self._timers.clear()

    def stop(self, join: bool = True) -> None:
        self._stopping = True
        self._wake()
        if join and self.thread.is_alive() and not self.in_thread():
            self.thread.join(timeout=5.0)

    # -- API (work thread) -------------------------------------------------
    def set_reader(self, fd: int, callback: Callback) -> None:
        """Call ``callback`` whenever ``fd`` is readable (and the reader is not paused)."""
        self._reader = (fd, callback)

    def pause_reader(self, until: float) -> None:
        """Do not read before monotonic time ``until`` (input pacing at the line rate)."""
        self._reader_resume = until

    # -- loop --------------------------------------------------------------
    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already has a pending wake-up, or shutting down

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._sync_reader()
                events = self._sel.select(self._timeout())
                readable = False
                for key, _ in events:
                    if key.fileobj is self._wake_r:
                        self._drain_wake()
                    else:
                        readable = True
                self._run_posted()
                if readable and not self._stopping:
                    self._call(self._reader[1] if self._reader else None)
                self._run_timers()
        finally:
            self._sel.close()
            self._wake_r.close()
            self._wake_w.close()

    def _sync_reader(self) -> None:
        want = self._reader is not None and time.monotonic() >= self._reader_resume
        if want and not self._reader_registered and self._reader is not None:
            self._sel.register(self._reader[0], selectors.EVENT_READ, "reader")
            self._reader_registered = True
        elif not want and self._reader_registered and self._reader is not None:
            self._sel.unregister(self._reader[0])
            self._reader_registered = False

    def _timeout(self) -> float:
        now = time.monotonic()
        timeout = 1.0
        with self._lock:
            if self._posted:
                return 0.0
            while self._timers and self._timers[0][2].cancelled:
                heapq.heappop(self._timers)
            if self._timers:
                timeout = min(timeout, self._timers[0][0] - now)
        if self._reader is not None and not self._reader_registered:
            timeout = min(timeout, self._reader_resume - now)
        return max(0.0, timeout)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _run_posted(self) -> None:
        while True:
            with self._lock:
                if not self._posted:
                    return
                callback = self._posted.popleft()
            self._call(callback)

    def _run_timers(self) -> None:
        while True:
            now = time.monotonic()
            with self._lock:
                if not self._timers or self._timers[0][0] > now:
                    return
                _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._call(timer.callback)

    def _call(self, callback: Optional[Callback]) -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:  # keep the modem alive; a bug shows up in the log
            log.exception("work item failed")
