"""Firmware version profiles: every wire-visible difference between SLM releases lives here.

Only two profiles are modelled: ``2.6`` (NCS v2.6.x, the format the seed
document shows) and ``3.1`` (NCS v3.1.x, the last SLM release, default).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict


@dataclass(frozen=True)
class Profile:
    """What one SLM release does differently on the wire."""

    name: str
    ncs_version: str          # first string of #XSLMVER
    libmodem_version: str     # second string of #XSLMVER
    udp_data_has_address: bool    # "#XUDPDATA: <n>,"<ip>",<port>" (2.8+) vs "#XUDPDATA: <n>"
    cid_param: bool               # <cid> accepted by #XTCPCLI/#XUDPCLI and shown by #XTCPCLI=?
    send_flags_param: bool        # <flags> accepted after the data of #XTCPSEND/#XUDPSEND
    proxy_eventfd: bool           # 2.7+: each proxy thread owns an eventfd (takes a handle) that
                                  # outlives a remote close, so reconnect needs op 0 first
    echo_quit_on_drop: bool       # 2.7+: send "+++" to the host when data mode dies
    empty_string_datamode: bool   # #XTCPSEND="" enters data mode (at_parser -ENODATA, 2.8+)


PROFILES: Dict[str, Profile] = {
    "2.6": Profile(
        name="2.6", ncs_version="2.6.0", libmodem_version="2.6.0-lte-sim",
        udp_data_has_address=False, cid_param=False, send_flags_param=False,
        proxy_eventfd=False, echo_quit_on_drop=False, empty_string_datamode=False),
    "3.1": Profile(
        name="3.1", ncs_version="3.1.0", libmodem_version="2.8.0-lte-sim",
        udp_data_has_address=True, cid_param=True, send_flags_param=True,
        proxy_eventfd=True, echo_quit_on_drop=True, empty_string_datamode=True),
}

DEFAULT_FW = "3.1"


def get_profile(name: str) -> Profile:
    """Look a profile up by version string ("2.6", "3.1"; "v3.1.0" style is accepted too)."""
    key = name.lstrip("vV")
    if key not in PROFILES:
        key = ".".join(key.split(".")[:2])
    try:
        return PROFILES[key]
    except KeyError:
        raise ValueError(f"unknown firmware profile {name!r} (known: {', '.join(PROFILES)})")
