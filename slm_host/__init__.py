"""slm_host: the slm_mpy driver on a PC (CPython + pyserial), e.g. for an nRF9160 DK on USB.

``python -m slm_host --port /dev/ttyACM0`` opens an interactive AT terminal (see
:mod:`slm_host.terminal`); :mod:`slm_host.jobs` holds the common bench jobs (attach,
status, quick TCP/UDP tests) as functions for other host scripts.

This package is CPython-only and never goes onto a board: ``package.json`` (mip) lists
``slm_mpy/`` alone.
"""

from .jobs import attach, status, tcp_exchange, udp_exchange, version
from .terminal import Terminal

__all__ = ["Terminal", "attach", "status", "tcp_exchange", "udp_exchange", "version"]
