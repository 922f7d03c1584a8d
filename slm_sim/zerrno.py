"""Error numbers as the SLM firmware prints them (Zephyr minimal-libc errno and DNS_EAI_*).

Host (Linux/macOS) errno values differ from Zephyr's for many names, so every
error that reaches the wire goes through :func:`from_host` first.
"""
from __future__ import annotations

import errno as _host_errno
from typing import Dict, Optional

# Zephyr lib/libc/minimal/include/errno.h numbering (only the names the sim can hit).
ZEPHYR: Dict[str, int] = {
    "EPERM": 1, "ENOENT": 2, "EINTR": 4, "EIO": 5, "EBADF": 9, "EAGAIN": 11, "ENOMEM": 12,
    "EACCES": 13, "EFAULT": 14, "EBUSY": 16, "EEXIST": 17, "EINVAL": 22, "EMFILE": 24,
    "ENOSPC": 28, "EPIPE": 32, "ENODATA": 61, "EPROTO": 71, "EMSGSIZE": 122,
    "EOPNOTSUPP": 95, "ECONNRESET": 104, "ENOBUFS": 105, "EAFNOSUPPORT": 106,
    "ENOTSOCK": 108, "ENOPROTOOPT": 109, "ESHUTDOWN": 110, "ECONNREFUSED": 111,
    "EADDRINUSE": 112, "ECONNABORTED": 113, "ENETUNREACH": 114, "ENETDOWN": 115,
    "ETIMEDOUT": 116, "EHOSTDOWN": 117, "EHOSTUNREACH": 118, "EINPROGRESS": 119,
    "EALREADY": 120, "EDESTADDRREQ": 121, "EADDRNOTAVAIL": 125, "EISCONN": 127,
    "ENOTCONN": 128, "ENOTSUP": 134, "EOVERFLOW": 139,
}

EIO = ZEPHYR["EIO"]
EBADF = ZEPHYR["EBADF"]
EINVAL = ZEPHYR["EINVAL"]
ENOMEM = ZEPHYR["ENOMEM"]
ENODATA = ZEPHYR["ENODATA"]
ENOENT = ZEPHYR["ENOENT"]
ECONNRESET = ZEPHYR["ECONNRESET"]
ECONNREFUSED = ZEPHYR["ECONNREFUSED"]
ENETUNREACH = ZEPHYR["ENETUNREACH"]
ENETDOWN = ZEPHYR["ENETDOWN"]
ETIMEDOUT = ZEPHYR["ETIMEDOUT"]
ENOTCONN = ZEPHYR["ENOTCONN"]
ENOTSUP = ZEPHYR["ENOTSUP"]
EOVERFLOW = ZEPHYR["EOVERFLOW"]
EMFILE = ZEPHYR["EMFILE"]

# zephyr/net/dns_resolve.h: the same values glibc uses for EAI_*.
DNS_EAI_NONAME = -2
DNS_EAI_AGAIN = -3
DNS_EAI_FAIL = -4
DNS_EAI_NODATA = -5
DNS_EAI_FAMILY = -6
DNS_EAI_ADDRFAMILY = -9
DNS_EAI_SYSTEM = -11

_GAI_TEXT: Dict[int, str] = {
    -1: "Invalid value for `ai_flags' field",
    DNS_EAI_NONAME: "NAME or SERVICE is unknown",
    DNS_EAI_AGAIN: "Temporary failure in name resolution",
    DNS_EAI_FAIL: "Non-recoverable failure in name res",
    DNS_EAI_NODATA: "No address associated with NAME",
    DNS_EAI_FAMILY: "`ai_family' not supported",
    -7: "`ai_socktype' not supported",
    -8: "SRV not supported for `ai_socktype'",
    DNS_EAI_ADDRFAMILY: "Address family for NAME not supported",
    -10: "Memory allocation failure",
    DNS_EAI_SYSTEM: "System error returned in `errno'",
    -12: "Argument buffer overflow",
}


def gai_strerror(code: int) -> str:
    """Text Zephyr's gai_strerror() gives for a DNS_EAI_* value."""
    return _GAI_TEXT.get(code, "Unknown error")


def from_host(err: Optional[int], default: int = EIO) -> int:
    """Translate a host errno number into the positive Zephyr errno number."""
    if err is None:
        return default
    name = _host_errno.errorcode.get(err)
    if name == "EWOULDBLOCK":
        name = "EAGAIN"
    if name is None or name not in ZEPHYR:
        return default
    return ZEPHYR[name]


def from_exc(exc: BaseException, default: int = EIO) -> int:
    """Zephyr errno (positive) for an OSError raised by the host socket layer."""
    return from_host(getattr(exc, "errno", None), default)
