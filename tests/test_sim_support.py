"""Shared helpers for the slm_sim tests (imported by the tests/test_sim_*.py modules).

There is no conftest.py for the simulator tests, so this module also makes the
repository root importable when pytest is started without it on sys.path, and
provides the fixtures (test modules import them by name).
"""
from __future__ import annotations

import os
import re
import socket
import sys
import time
from typing import Iterator, List, Optional

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from slm_sim.peers import EchoPeers, start_echo_peers  # noqa: E402
from slm_sim.simulator import Simulator  # noqa: E402

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
READY = b"Ready\r\n"
_FINAL = re.compile(rb"\r\n(OK|ERROR|\+CME ERROR: \d+|\+CMS ERROR: \d+)\r\n")
DATA_HEADER = re.compile(rb'\r\n#X(?:TCP|UDP)DATA: (\d+)(?:,"[^"]*",\d+)?\r\n')


class Host:
    """The host side of a simulated UART: buffered reads with deadlines."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not chunk:
            raise AssertionError(f"link closed; buffered: {bytes(self.buf)!r}")
        self.buf += chunk
        return True

    def read_until(self, marker: bytes, timeout: float = 3.0) -> bytes:
        """Everything up to and including ``marker`` (the rest stays buffered)."""
        deadline = time.monotonic() + timeout
        while True:
            index = self.buf.find(marker)
            if index >= 0:
                end = index + len(marker)
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            if not self._fill(deadline):
                raise AssertionError(f"timeout waiting for {marker!r}; got {bytes(self.buf)!r}")

    def read_exact(self, count: int, timeout: float = 3.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buf) < count:
            if not self._fill(deadline):
                raise AssertionError(f"timeout waiting for {count} bytes; got {bytes(self.buf)!r}")
        out = bytes(self.buf[:count])
        del self.buf[:count]
        return out

    def expect(self, exact: bytes, timeout: float = 3.0) -> None:
        """The next bytes must be exactly ``exact``."""
        got = self.read_exact(len(exact), timeout)
        assert got == exact, f"expected {exact!r}, got {got!r} (+ {bytes(self.buf)!r})"

    def read_final(self, timeout: float = 3.0) -> bytes:
        """Bytes up to and including the next final result code."""
        deadline = time.monotonic() + timeout
        while True:
            match = _FINAL.search(self.buf)
            if match:
                out = bytes(self.buf[:match.end()])
                del self.buf[:match.end()]
                return out
            if not self._fill(deadline):
                raise AssertionError(f"no final result; got {bytes(self.buf)!r}")

    def at(self, command: str | bytes, timeout: float = 3.0) -> bytes:
        """Send a command with CR LF and return its whole response."""
        if isinstance(command, str):
            command = command.encode("latin-1")
        self.send(command + b"\r\n")
        return self.read_final(timeout)

    def at_data(self, command: str | bytes, total: int, timeout: float = 5.0) -> tuple:
        """Send a command whose effect comes back as data URCs (e.g. an echo).

        The data URCs (header + payload) may arrive anywhere, even between the
        information line and OK, as on the real device. Returns ``(lines,
        payload)``: the response lines without the data URCs, and the payloads
        joined (at least ``total`` bytes).
        """
        if isinstance(command, str):
            command = command.encode("latin-1")
        self.send(command + b"\r\n")
        return self.collect(total, want_final=True, timeout=timeout)

    def collect(self, total: int, want_final: bool = False, timeout: float = 5.0) -> tuple:
        """Read data URCs until ``total`` payload bytes (and a final result if asked)."""
        deadline = time.monotonic() + timeout
        lines = bytearray()
        payload = bytearray()
        final = not want_final
        while not (final and len(payload) >= total):
            header = DATA_HEADER.match(self.buf)
            if header:
                size = int(header.group(1))
                assert 0 < size <= 2048, header.group(0)
                if len(self.buf) >= header.end() + size:
                    payload += self.buf[header.end():header.end() + size]
                    del self.buf[:header.end() + size]
                    continue
            elif self.buf.startswith(b"\r\n"):
                end = self.buf.find(b"\r\n", 2)
                if end >= 0 and not self.buf.startswith(b"\r\n#XTCPDATA") \
                        and not self.buf.startswith(b"\r\n#XUDPDATA"):
                    line = bytes(self.buf[:end + 2])
                    del self.buf[:end + 2]
                    lines += line
                    final = final or bool(_FINAL.fullmatch(line))
                    continue
            elif self.buf:
                raise AssertionError(f"unexpected bytes {bytes(self.buf)!r}")
            if not self._fill(deadline):
                raise AssertionError(f"timeout: lines {bytes(lines)!r}, payload {len(payload)} "
                                     f"bytes, buffered {bytes(self.buf)!r}")
        return bytes(lines), bytes(payload)

    def drain(self, quiet: float = 0.15, limit: float = 3.0) -> bytes:
        """Read until nothing arrived for ``quiet`` seconds (for "nothing more comes")."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if not self._fill(min(end, time.monotonic() + quiet)):
                break
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def close(self) -> None:
        self.sock.close()


def wait_for(predicate, timeout: float = 3.0, what: str = "condition") -> None:
    """Poll ``predicate`` (state inside the simulator) until true or fail."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timeout waiting for {what}")
        time.sleep(0.005)


def attach(host: Host, cereg: Optional[int] = None) -> None:
    """AT+CFUN=1 and wait for the registration (with CEREG reporting on)."""
    assert host.at(f"AT+CEREG={cereg if cereg is not None else 1}") == OK
    assert host.at("AT+CFUN=1") == OK
    host.read_until(b"\r\n+CEREG: 1")
    host.read_until(b"\r\n")
    if cereg is None:
        assert host.at("AT+CEREG=0") == OK


class SimFactory:
    """Creates simulators for a test and closes them afterwards."""

    def __init__(self) -> None:
        self.sims: List[Simulator] = []
        self.hosts: List[Host] = []

    def __call__(self, fw: str = "3.1", baud: int = 0, **options) -> Simulator:
        options.setdefault("attach_delay_ms", 10)
        options.setdefault("boot_delay_ms", 5)
        sim = Simulator(fw=fw, baud=baud, **options)
        self.sims.append(sim)
        return sim

    def connect(self, sim: Simulator, banner: bool = True) -> Host:
        """A new modem on ``sim``; its host end is closed after the test."""
        host = Host(sim.connect_socketpair())
        host.sim = sim  # type: ignore[attr-defined]
        self.hosts.append(host)
        if banner:
            host.expect(READY)
        return host

    def host(self, fw: str = "3.1", attached: bool = True, **options) -> Host:
        """A booted (and by default attached) modem's host end."""
        host = self.connect(self(fw=fw, **options))
        if attached:
            attach(host)
        return host

    def close(self) -> None:
        for host in self.hosts:
            host.close()
        for sim in self.sims:
            sim.close()


@pytest.fixture()
def make_sim() -> Iterator[SimFactory]:
    factory = SimFactory()
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def peers() -> Iterator[EchoPeers]:
    p = start_echo_peers()
    yield p
    p.close()


FWS = ["2.6", "3.1"]

_NORMALISE = [
    (re.compile(rb'(#X(?:TCP|UDP)(?:CLI|SVR): )\d+(,"(?:connected|started)")'), rb"\1<h>\2"),
    (re.compile(rb"(#XTCPSVR: )-?\d+,-?\d+,(\d)\r"), rb"\1<h>,<h>,\2\r"),
    (re.compile(rb"(#X(?:TCPCLI|UDPCLI|UDPSVR): )-?\d+,(\d)\r"), rb"\1<h>,\2\r"),
    (re.compile(rb'"(?:\d{1,3}\.){3}\d{1,3}"|"::1"'), rb'"<ip>"'),
    (re.compile(rb'(#XUDPDATA: \d+,"<ip>",)\d+'), rb"\1<port>"),
]


def normalise(data: bytes) -> bytes:
    """Replace handles, addresses and peer ports, which differ from the documented ones."""
    for pattern, repl in _NORMALISE:
        data = pattern.sub(repl, data)
    return data
