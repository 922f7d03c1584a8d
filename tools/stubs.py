"""Install the MicroPython type stubs into ``typings/`` when they are missing.

The stubs are not PEP 561 packages: mypy reads them as a replacement typeshed
(``custom_typeshed_dir``/``mypy_path`` in pyproject.toml), so they live in a
git-ignored folder instead of the virtual environment.

Used by ``make typings`` and by the pytest session (tests/conftest.py), both
with the interpreter that runs them::

    python -m tools.stubs
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENT = "micropython-rp2-stubs==1.29.0.post1"
ROOT = Path(__file__).resolve().parent.parent
# Written last, so an interrupted install is redone; holds the requirement so a
# changed pin triggers a fresh install.
MARKER = ".installed"


def is_installed(target: Path) -> bool:
    marker = target / MARKER
    return marker.is_file() and marker.read_text().strip() == REQUIREMENT


def ensure_stubs(target: Path = ROOT / "typings", python: str = sys.executable) -> Path:
    """Return ``target``, installing the stubs there first if needed."""
    if is_installed(target):
        return target
    # pip --target refuses to replace what is already there: start empty.
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(
        [
            python, "-m", "pip", "install",
            "--quiet", "--disable-pip-version-check", "--no-user",
            "--target", str(target),
            REQUIREMENT,
        ],
        check=True,
    )
    (target / MARKER).write_text(REQUIREMENT + "\n")
    return target


if __name__ == "__main__":
    ensure_stubs()
