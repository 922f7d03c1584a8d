"""mypy --strict over slm_mpy/, against the MicroPython (rp2) stubs in typings/.

Configuration lives in pyproject.toml ([tool.mypy]). The driver cannot import
`typing` at run time on MicroPython, so it writes::

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import Optional

    def f(x: "Optional[int]") -> None: ...

mypy treats any name called TYPE_CHECKING as true, so the imports are seen by
the checker and skipped on the board. The second test below pins that down.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_mypy(*args: str) -> subprocess.CompletedProcess[str]:
    # Run from the root: pyproject's paths (typings, slm_mpy) are relative to it.
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--no-color-output", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


def test_slm_mpy_is_strictly_typed(typings_dir: Path) -> None:
    proc = run_mypy()
    if proc.returncode != 0:
        pytest.fail("mypy --strict found problems in slm_mpy/:\n" + proc.stdout + proc.stderr, pytrace=False)
    # Guard against a configuration that quietly checks nothing.
    modules = list((ROOT / "slm_mpy").rglob("*.py"))
    match = re.search(r"no issues found in (\d+) source files?", proc.stdout)
    assert match and int(match.group(1)) == len(modules), proc.stdout


def test_configuration_is_strict_and_accepts_the_type_checking_idiom(typings_dir: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text(
        "import time\n"
        "from micropython import const\n"
        "TYPE_CHECKING = False\n"
        "if TYPE_CHECKING:\n"
        "    from typing import Optional\n"
        "_LIMIT = const(4)\n"
        "def elapsed(start: \"Optional[int]\") -> int:\n"
        "    now = time.ticks_ms()\n"
        "    return time.ticks_diff(now, now) + (start or 0) + _LIMIT\n"
    )
    proc = run_mypy(str(good))
    assert proc.returncode == 0, proc.stdout + proc.stderr

    bad = tmp_path / "bad.py"
    bad.write_text("def untyped(x):\n    return x\n")
    proc = run_mypy(str(bad))
    assert proc.returncode == 1 and "no-untyped-def" in proc.stdout, proc.stdout + proc.stderr
