"""slm_sim - a CPython simulator of Nordic's nRF91 Serial LTE Modem (SLM) firmware.

The package only hands names on; see ``slm_sim/README.md`` for the CLI, the
control port and the in-process API. ``slm_sim.peers`` (echo servers for tests)
is imported on its own and does not load the simulator.
"""
from typing import Any

__all__ = ["Simulator", "SimConfig"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import slm_sim.peers` stays light for the driver's test plugin.
    if name == "Simulator":
        from .simulator import Simulator
        return Simulator
    if name == "SimConfig":
        from .config import SimConfig
        return SimConfig
    raise AttributeError(name)
