"""The firmware's file-descriptor table: proxy handles are Zephyr fds.

Sockets and (2.7+) eventfds share one table, and the lowest free number is
handed out first, so a first socket is 0, its proxy thread's eventfd 1, ...
"""
from __future__ import annotations

import threading
from typing import Dict, Optional

MAX_FDS = 8  # CONFIG_ZVFS_OPEN_MAX


class HandleTable:
    """Lowest-free allocation of small integer handles (thread-safe)."""

    def __init__(self, size: int = MAX_FDS) -> None:
        self._size = size
        self._owners: Dict[int, str] = {}
        self._lock = threading.Lock()

    def alloc(self, owner: str) -> Optional[int]:
        """Lowest free handle, or None when the table is full (EMFILE)."""
        with self._lock:
            for handle in range(self._size):
                if handle not in self._owners:
                    self._owners[handle] = owner
                    return handle
            return None

    def free(self, handle: int) -> None:
        if handle < 0:
            return
        with self._lock:
            self._owners.pop(handle, None)

    def reset(self) -> None:
        with self._lock:
            self._owners.clear()

    def snapshot(self) -> Dict[int, str]:
        with self._lock:
            return dict(self._owners)
