"""Fixtures shared by the CPython tests."""

from pathlib import Path

import pytest

from tools.stubs import ensure_stubs

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def typings_dir() -> Path:
    """The MicroPython stubs folder, installed with this interpreter's pip when missing."""
    return ensure_stubs(ROOT / "typings")
