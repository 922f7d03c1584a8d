"""Fault injection for one modem: lossy/corrupting UART, stalls, reboots at a chosen byte.

Rates and switches are read live from the modem's :class:`SimConfig` (so the
control port can change them at runtime); one-shot faults (``drop-bytes``,
``reboot-after-tx`` ...) are counters kept here. All methods are thread-safe.
"""
from __future__ import annotations

import random
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

from .config import SimConfig

# Bytes seen in the field in front of "Ready" after a reset (DevZone 126211).
_GARBAGE_BYTES = bytes([0xC0, 0xFF, 0x00, 0xF8, 0xE0])


class Faults:
    """Runtime fault state; ``config`` is consulted on every call."""

    def __init__(self, config: Callable[[], SimConfig], seed: Optional[int]) -> None:
        self._config = config
        self._lock = threading.Lock()
        self.rng = random.Random(seed)
        self.drop_next = 0
        self.corrupt_next = 0
        self.stall_until = 0.0
        self.tx_budget: Optional[int] = None   # reboot after this many more host-bound bytes
        self.rx_budget: Optional[int] = None   # reboot after this many more host-sent bytes

    # -- one-shot setters (control port) -----------------------------------
    def drop_bytes(self, count: int) -> None:
        with self._lock:
            self.drop_next += count

    def corrupt_bytes(self, count: int) -> None:
        with self._lock:
            self.corrupt_next += count

    def stall(self, ms: int) -> None:
        with self._lock:
            self.stall_until = max(self.stall_until, time.monotonic() + ms / 1000.0)

    def arm_reboot_after_tx(self, count: int) -> None:
        with self._lock:
            self.tx_budget = count

    def arm_reboot_after_rx(self, count: int) -> None:
        with self._lock:
            self.rx_budget = count

    # -- hooks used by the UART --------------------------------------------
    def take_tx(self, data: bytes) -> Tuple[bytes, bool]:
        """Cut ``data`` at the reboot-after-tx budget; True when the budget ran out."""
        with self._lock:
            if self.tx_budget is None:
                return data, False
            if len(data) < self.tx_budget:
                self.tx_budget -= len(data)
                return data, False
            cut = self.tx_budget
            self.tx_budget = None
            return data[:cut], True

    def take_rx(self, data: bytes) -> Tuple[bytes, bool]:
        """Same as :meth:`take_tx` for bytes received from the host."""
        with self._lock:
            if self.rx_budget is None:
                return data, False
            if len(data) < self.rx_budget:
                self.rx_budget -= len(data)
                return data, False
            cut = self.rx_budget
            self.rx_budget = None
            return data[:cut], True

    def filter_tx(self, data: bytes) -> bytes:
        """Apply drop/corrupt faults to host-bound bytes."""
        cfg = self._config()
        with self._lock:
            if not (self.drop_next or self.corrupt_next or cfg.drop_rate or cfg.corrupt_rate):
                return data
            out = bytearray()
            for byte in data:
                if self.drop_next:
                    self.drop_next -= 1
                    continue
                if self.corrupt_next:
                    self.corrupt_next -= 1
                    out.append(self._corrupt(byte))
                    continue
                if cfg.drop_rate and self.rng.random() < cfg.drop_rate:
                    continue
                if cfg.corrupt_rate and self.rng.random() < cfg.corrupt_rate:
                    out.append(self._corrupt(byte))
                    continue
                out.append(byte)
            return bytes(out)

    def _corrupt(self, byte: int) -> int:
        return byte ^ self.rng.randint(1, 255)  # never the same byte again

    def stall_remaining(self) -> float:
        with self._lock:
            return max(0.0, self.stall_until - time.monotonic())

    def fragment_size(self, limit: int) -> int:
        with self._lock:
            return self.rng.randint(1, max(1, limit))

    def fragment_gap(self) -> float:
        with self._lock:
            return self.rng.uniform(0.0, 0.0005)

    def garbage(self) -> bytes:
        """1..3 stray bytes to put in front of "Ready"."""
        with self._lock:
            count = self.rng.randint(1, 3)
            return bytes(self.rng.choice(_GARBAGE_BYTES) for _ in range(count))

    def status(self) -> Dict[str, Any]:
        with self._lock:
            return {
                "drop_next": self.drop_next, "corrupt_next": self.corrupt_next,
                "stall_ms": int(max(0.0, self.stall_until - time.monotonic()) * 1000),
                "reboot_after_tx": self.tx_budget, "reboot_after_rx": self.rx_budget,
            }
