"""slm_mpy: a MicroPython/CircuitPython/CPython driver for Nordic's Serial LTE Modem.

    from slm_mpy import SLM, ATError
    modem = SLM(uart)
    modem.wait_ready()
    print(modem.at("AT#XSLMVER"))
"""

from .errors import ATError, ModemReset
from .modem import SLM

__version__ = "0.1.0"
__all__ = ["SLM", "ATError", "ModemReset", "__version__"]
