"""Simulator options shared by the CLI, the in-process API and the control port."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional

from .profiles import DEFAULT_FW, get_profile


@dataclass
class SimConfig:
    """All knobs of one simulated modem. Each modem gets its own copy at boot."""

    fw: str = DEFAULT_FW
    baud: int = 115200               # 0 = no pacing (datamode timer uses the 1 Mbaud value)
    fragment: int = 0                # >0: split host-bound output into 1..N byte writes
    interleave_urcs: bool = False    # put a URC between an information line and its OK
    garbage_before_ready: bool = False
    drop_rate: float = 0.0           # probability that a host-bound byte is lost
    corrupt_rate: float = 0.0        # probability that a host-bound byte is changed
    seed: Optional[int] = None
    attach_delay_ms: int = 100       # AT+CFUN=1 -> registered
    net_delay_ms: int = 0            # slow network: delay per downlink chunk / uplink send
    boot_delay_ms: int = 20          # silence between a reboot and "Ready\r\n"
    reboot_after_tx: Optional[int] = None   # armed once at boot (CLI flag form)
    reboot_after_rx: Optional[int] = None
    sndbuf: int = 4096               # SO_SNDBUF of the host link (flow control depth)
    imei: str = "352656100367872"

    def validate(self) -> None:
        """Raise ValueError for out-of-range values."""
        get_profile(self.fw)
        if self.baud < 0:
            raise ValueError("baud must be >= 0")
        if self.fragment < 0:
            raise ValueError("fragment must be >= 0")
        for name in ("drop_rate", "corrupt_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1")

    def copy(self, **changes: Any) -> "SimConfig":
        """A validated copy with some fields replaced."""
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def as_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def parse_option(name: str, text: str) -> tuple[str, Any]:
    """Convert a control-port ``set <option> <value>`` pair into (field, value)."""
    field = name.strip().lower().replace("-", "_")
    fields = {f.name: f for f in dataclasses.fields(SimConfig)}
    if field not in fields:
        raise ValueError(f"unknown option {name!r}")
    kind = fields[field].type
    text = text.strip()
    if kind in (bool, "bool"):
        return field, _parse_bool(text)
    if kind in (float, "float"):
        return field, float(text)
    if kind in (str, "str"):
        return field, text
    if text.lower() in ("none", "off", "") and "Optional" in str(kind):
        return field, None
    return field, int(text, 0)
