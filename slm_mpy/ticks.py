"""``time.ticks_ms`` and friends where the runtime lacks them (CircuitPython, CPython).

``compat.py`` imports these only when ``time`` has no ``ticks_ms``: MicroPython never loads
this module.
"""

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_TICKS_PERIOD = 1 << 29  # wraps like MicroPython's ticks on a 32-bit port: small ints, no heap
_TICKS_HALF = _TICKS_PERIOD // 2

_ns: "Any" = getattr(time, "monotonic_ns", None)  # not in the MicroPython stubs; None keeps the import working there


def ticks_ms() -> int:
    return int(_ns() // 1000000) & (_TICKS_PERIOD - 1)


def ticks_diff(a: int, b: int) -> int:
    return ((a - b + _TICKS_HALF) & (_TICKS_PERIOD - 1)) - _TICKS_HALF


def ticks_add(t: int, ms: int) -> int:
    return (t + ms) & (_TICKS_PERIOD - 1)


def sleep_ms(ms: int) -> None:
    time.sleep(ms / 1000)
