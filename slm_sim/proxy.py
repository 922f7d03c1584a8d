"""Pieces shared by the TCP and UDP proxies: name resolution, the loopback-only
network policy, abortable sends and the proxy worker thread with its wake-up pipe.
"""
from __future__ import annotations

import ipaddress
import logging
import select
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from . import zerrno

log = logging.getLogger("slm_sim")

SLM_MAX_URL = 128          # url buffers hold 127 characters plus the NUL
SLM_MAX_PAYLOAD_SIZE = 1024
SLM_MAX_MESSAGE_SIZE = 2048  # slm_data_buf: largest #XTCPDATA / #XUDPDATA chunk
INVALID_SEC_TAG = -1
SEC_TAG_MAX = 2 ** 31 - 1
DNS_TIMEOUT = 3.0

# <op> of the proxy commands and the Zephyr AF_* numbers printed in read responses.
OP_FAMILY: Dict[int, int] = {1: socket.AF_INET, 2: socket.AF_INET6}
ZEPHYR_AF: Dict[int, int] = {0: 0, socket.AF_INET: 1, socket.AF_INET6: 2}
LOOPBACK: Dict[int, str] = {socket.AF_INET: "127.0.0.1", socket.AF_INET6: "::1"}


class ResolveError(Exception):
    """Name resolution failed; ``code`` is the (negative) DNS_EAI_* value."""

    def __init__(self, code: int) -> None:
        super().__init__(zerrno.gai_strerror(code))
        self.code = code


def resolve(host: str, family: int) -> List[str]:
    """Addresses for ``host`` in ``family`` (AF_UNSPEC allowed), like the modem's DNS.

    ``localhost`` is answered locally (127.0.0.1 / ::1) so IPv6 tests work on
    hosts whose resolver only knows the IPv4 form; ``*.invalid`` fails at once
    (RFC 6761) without asking the host resolver.
    """
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        lit_family = socket.AF_INET if literal.version == 4 else socket.AF_INET6
        if family not in (socket.AF_UNSPEC, lit_family):
            raise ResolveError(zerrno.DNS_EAI_ADDRFAMILY)
        return [str(literal)]
    name = host.rstrip(".").lower()
    if name == "localhost":
        if family == socket.AF_INET6:
            return ["::1"]
        return ["127.0.0.1"]
    if not name or name.endswith(".invalid") or name == "invalid":
        raise ResolveError(zerrno.DNS_EAI_NONAME)
    return _host_resolve(host, family)


def _host_resolve(host: str, family: int) -> List[str]:
    result: List[Union[List[str], ResolveError]] = []

    def work() -> None:
        try:
            infos = socket.getaddrinfo(host, None, family, socket.SOCK_STREAM)
            result.append([str(info[4][0]) for info in infos])
        except socket.gaierror as exc:
            result.append(ResolveError(exc.errno if exc.errno and exc.errno < 0
                                       else zerrno.DNS_EAI_FAIL))
        except OSError:
            result.append(ResolveError(zerrno.DNS_EAI_SYSTEM))

    # getaddrinfo() has no timeout; a helper thread keeps a dead resolver from
    # hanging the modem.
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(DNS_TIMEOUT)
    if not result:
        raise ResolveError(zerrno.DNS_EAI_AGAIN)
    outcome = result[0]
    if isinstance(outcome, ResolveError):
        raise outcome
    addresses: List[str] = []
    for addr in outcome:
        if addr not in addresses:
            addresses.append(addr)
    if not addresses:
        raise ResolveError(zerrno.DNS_EAI_NODATA)
    return addresses


def is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def destination(host: str, port: int, family: int, attached: bool) -> Tuple[str, int]:
    """Resolve a proxy destination; raises ResolveError or ConnectFailed.

    Without an LTE attach DNS fails with EAI_AGAIN and IP literals with
    -ENETUNREACH. Only loopback destinations exist in the simulated network:
    anything else times out (-ETIMEDOUT) immediately instead of after minutes.
    """
    if not attached:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ResolveError(zerrno.DNS_EAI_AGAIN)
        raise ConnectFailed(-zerrno.ENETUNREACH)
    addr = resolve(host, family)[0]
    if not is_loopback(addr):
        raise ConnectFailed(-zerrno.ETIMEDOUT)
    return addr, port


class ConnectFailed(Exception):
    """Opening a proxy failed with ``code`` (a negative errno)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"error {code}")
        self.code = code


def peer_ip(sockaddr: Tuple[Any, ...]) -> Tuple[str, int]:
    """(ip, port) of a socket address, without IPv6 scope or flow info."""
    return str(sockaddr[0]).split("%")[0], int(sockaddr[1])


def send_all(sock: socket.socket, data: bytes, aborted: Callable[[], bool]) -> int:
    """Send everything on a non-blocking socket, giving up when ``aborted()``."""
    view = memoryview(data)
    sent = 0
    while sent < len(view):
        if aborted():
            raise ConnectionAbortedError("proxy closed")
        try:
            sent += sock.send(view[sent:])
        except (BlockingIOError, InterruptedError):
            select.select([], [sock], [], 0.05)
    return sent


class Worker:
    """A proxy thread plus its event pipe (the firmware's eventfd + message queue)."""

    def __init__(self, name: str, target: Callable[["Worker"], None]) -> None:
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._lock = threading.Lock()
        self._events: List[str] = []
        self.stopping = False   # set on reboot/shutdown: report nothing, just exit
        self.thread = threading.Thread(target=target, args=(self,), name=name, daemon=True)

    @property
    def wake_sock(self) -> socket.socket:
        return self._wake_r

    def start(self) -> None:
        self.thread.start()

    def post(self, event: str) -> None:
        with self._lock:
            self._events.append(event)
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def take_events(self) -> List[str]:
        try:
            while self._wake_r.recv(256):
                pass
        except (BlockingIOError, OSError):
            pass
        with self._lock:
            events, self._events = self._events, []
        return events

    def has_event(self, event: str) -> bool:
        with self._lock:
            return event in self._events

    def alive(self) -> bool:
        return self.thread.is_alive()

    def join(self, timeout: float) -> None:
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)

    def close(self) -> None:
        self._wake_r.close()
        self._wake_w.close()


def net_delay(ms: int) -> None:
    """The configured network latency (slow peer model)."""
    if ms > 0:
        time.sleep(ms / 1000.0)


def host_errno(exc: BaseException) -> int:
    """Negative Zephyr errno for a socket exception."""
    if isinstance(exc, socket.timeout):
        return -zerrno.ETIMEDOUT
    return -zerrno.from_exc(exc)


def zephyr_family(family: Optional[int]) -> int:
    return ZEPHYR_AF.get(family or 0, 0)
