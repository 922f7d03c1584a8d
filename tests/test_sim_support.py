"""Shared helpers for the slm_sim tests (imported by the tests/test_sim_*.py modules).

There is no conftest.py for the simulator tests, so this module also makes the
repository root importable when pytest is started without it on sys.path.
"""
from __future__ import annotations

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
