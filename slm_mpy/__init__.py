"""slm_mpy: a MicroPython/CircuitPython/CPython driver for Nordic's Serial LTE Modem."""

__version__ = "0.1.0"
