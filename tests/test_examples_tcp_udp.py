"""``python -m slm_sim demo`` and the TCP/UDP examples, run as a user would run them.

Each example is ``examples/<name>.py`` itself under ``micropython -X heapsize=192K`` against a
simulator process (``SLM_SIM_PORT``), with the settings in the environment that a board would
have in the file. The clients talk to slm_sim's loopback echo servers; for the servers, this
test is the network peer: a CPython socket connecting to the port the modem listens on
(slm_sim backs the modem's server with a real socket on 127.0.0.1).
"""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from tools.mpy_pytest import HEAPSIZE, SimProcess

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SIM_PROFILES = ["--fw 3.1", "--fw 2.6 --fragment"]


# ---------------------------------------------------------------------------
# python -m slm_sim demo


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "slm_sim", "demo", *args],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )
    print(f"demo {' '.join(args)}: {time.monotonic() - started:.1f} s\n{proc.stdout}{proc.stderr}")
    return proc


def test_demo_runs_the_driver_and_passes() -> None:
    started = time.monotonic()
    proc = run_demo()
    elapsed = time.monotonic() - started
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert elapsed < 10, f"the demo took {elapsed:.1f} s"
    steps = [
        "demo: simulated SLM 3.1 on 127.0.0.1:",
        "modem ready",
        'AT#XSLMVER -> #XSLMVER: "3.1.0",',
        "AT+CFUN=1   (radio on",
        "URC +CEREG: 2   (searching)",
        "URC +CEREG: 1   (registered, home network)",
        "-> connected, handle 0",
        "send text: 44 bytes",
        "send binary: 305 bytes b'\\x00\\x01binary +++ payload\\r\\nOK\\r\\n",
        "recv 305 bytes: echo matches",
        "AT#XTCPCLI? -> #XTCPCLI: 0,1",
        "closed; tcp_client_status() -> (-1, 1)",
        "recv b'datagram 1' from 127.0.0.1:",
        "binary datagram with +++ refused",
        "closed; udp_client_status() -> (-1, 1)",
        "TCP echo 349 bytes verified; UDP echo 3 datagrams verified",
        "demo OK",
        "demo: passed in",
    ]
    at = 0
    for step in steps:  # in this order
        found = out.find(step, at)
        assert found >= 0, f"{step!r} missing (or out of order) in:\n{out}"
        at = found
    # The +CEREG URCs are printed by the on() callback as they arrive, while attaching.
    assert out.index("URC +CEREG: 1") < out.index("attached in")


def test_demo_at_115200_baud_on_the_old_firmware() -> None:
    proc = run_demo("--baud", "115200", "--fw", "2.6", "--fragment")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(115200 baud)" in proc.stdout
    assert 'AT#XSLMVER -> #XSLMVER: "2.6.0",' in proc.stdout
    assert "recv b'datagram 1' from (sender not reported)" in proc.stdout  # NCS 2.6 does not
    assert "demo OK" in proc.stdout


def test_demo_fails_when_the_device_script_fails() -> None:
    proc = run_demo("--micropython", "/bin/false")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "demo: FAILED (device script exit status 1)" in proc.stdout


# ---------------------------------------------------------------------------
# Running an example


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[SimProcess]:
    s = SimProcess(request.param, cwd=ROOT)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def echo_env() -> Iterator[Dict[str, str]]:
    from slm_sim.peers import start_echo_peers

    peers = start_echo_peers()
    yield {"ECHO_HOST": "127.0.0.1", "ECHO_TCP_PORT": str(peers.tcp_port), "ECHO_UDP_PORT": str(peers.udp_port)}
    peers.close()


class Example:
    """``micropython examples/<name>`` in the background; its output lines are kept as they come."""

    def __init__(self, micropython: str, sim: SimProcess, name: str, env: Dict[str, str]) -> None:
        full_env = dict(os.environ)
        full_env.update(env)
        full_env["SLM_SIM_PORT"] = str(sim.port)
        full_env["MICROPYPATH"] = f"{ROOT}:.frozen"
        self.name = name
        self.sim = sim
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [micropython, "-X", f"heapsize={HEAPSIZE}", str(EXAMPLES / name)],
            env=full_env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        self.lines: List[str] = []
        self._new: "queue.Queue[Optional[str]]" = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)
        self._new.put(None)

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_line(self, pattern: str, timeout: float = 30.0) -> "re.Match[str]":
        """The first new output line that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.proc.kill()
                raise AssertionError(f"{self.name}: no line matching {pattern!r}:\n{self.output()}\n"
                                     f"--- simulator ---\n{self.sim.tail()}")
            match = re.search(pattern, line)
            if match:
                return match

    def finish(self, timeout: float = 60.0) -> str:
        """Wait for the program to end; its whole output. Fails unless it exited with 0."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        while self._new.get() is not None:  # the pump has read everything
            pass
        out = self.output()
        print(f"{self.name}: {time.monotonic() - self.started:.1f} s\n{out}")
        assert status == 0, f"{self.name} exited with {status}:\n{out}\n--- simulator ---\n{self.sim.tail()}"
        return out


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(micropython: str, sim: SimProcess, name: str, kind: int, env: Dict[str, str]) -> "tuple[Example, int]":
    """Run a server example on a free port; returns it (listening) and the port.

    The port is free when chosen, but another process on the machine may take it before the
    modem binds it (``modem error -112``, EADDRINUSE): then a new port is tried.
    """
    for _ in range(5):
        port = free_port(kind)
        ex = Example(micropython, sim, name, dict(env, SERVER_PORT=str(port)))
        match = ex.wait_line(rf"^listening on (TCP|UDP) port {port}$|modem error -112$")
        if match.group(0).startswith("listening"):
            return ex, port
        ex.proc.wait(10)
    raise AssertionError(f"{name}: no free port after 5 attempts")


# ---------------------------------------------------------------------------
# Clients: against slm_sim's echo servers


@pytest.mark.parametrize("sim", SIM_PROFILES, indirect=True)
def test_tcp_client_echo_verified(micropython_exe: str, sim: SimProcess, echo_env: Dict[str, str]) -> None:
    out = Example(micropython_exe, sim, "tcp_client.py", echo_env).finish()
    assert f"connected to 127.0.0.1:{echo_env['ECHO_TCP_PORT']}" in out
    assert "sent 16 bytes, echo verified" in out
    assert "sent 41 bytes, echo verified" in out  # the binary one, with +++ and \r\nOK\r\n
    assert "sent 2048 bytes, echo verified" in out
    assert "closed; 3 of 3 echoes verified" in out


@pytest.mark.parametrize("sim", SIM_PROFILES, indirect=True)
def test_udp_client_pings_answered(micropython_exe: str, sim: SimProcess, echo_env: Dict[str, str]) -> None:
    out = Example(micropython_exe, sim, "udp_client.py", echo_env).finish()
    port = echo_env["ECHO_UDP_PORT"]
    sender = f"('127.0.0.1', {port})" if "3.1" in sim.args else "None"
    for i in range(1, 6):
        assert f"ping {i}: reply from {sender} in " in out, out
    assert "5 of 5 pings answered" in out


# ---------------------------------------------------------------------------
# Servers: this test is the client on the network side


def tcp_exchange(port: int, message: bytes) -> bytes:
    """Connect, send ``message``, read until the server hangs up."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(message)
        reply = b""
        while True:
            piece = s.recv(4096)
            if not piece:
                return reply
            reply += piece


@pytest.mark.parametrize("sim", SIM_PROFILES, indirect=True)
def test_tcp_server_answers_two_clients(micropython_exe: str, sim: SimProcess) -> None:
    ex, port = start_server(micropython_exe, sim, "tcp_server.py", socket.SOCK_STREAM, {"SERVER_CLIENTS": "2"})
    replies = []
    for i in (1, 2):  # the second connection shows that the server listens on after a hangup
        replies.append(tcp_exchange(port, b"hello from peer %d\n" % i))
        ex.wait_line(rf"^client 127\.0\.0\.1 done \({i} served\)$")
    out = ex.finish()
    assert replies == [b"HELLO FROM PEER 1\n", b"HELLO FROM PEER 2\n"], replies
    assert "client 127.0.0.1 sent b'hello from peer 1\\n'" in out
    assert "client 127.0.0.1 sent b'hello from peer 2\\n'" in out
    assert out.endswith("server stopped"), out


@pytest.mark.parametrize("sim", SIM_PROFILES, indirect=True)
def test_udp_server_answers_datagrams(micropython_exe: str, sim: SimProcess) -> None:
    ex, port = start_server(micropython_exe, sim, "udp_server.py", socket.SOCK_DGRAM, {"SERVER_DATAGRAMS": "3"})
    messages = [b"hello", b"second datagram", b"bin\x00\r\nOK\r\n\xff"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(20)
        me = s.getsockname()
        for m in messages:
            s.sendto(m, ("127.0.0.1", port))
            reply, frm = s.recvfrom(2048)
            assert frm == ("127.0.0.1", port)
            assert reply == m.upper(), (m, reply)
    out = ex.finish()
    sender = f"('127.0.0.1', {me[1]})" if "3.1" in sim.args else "None"
    assert f"from {sender}: b'hello'" in out, out
    assert f"from {sender}: b'bin\\x00\\r\\nOK\\r\\n\\xff'" in out, out
    assert out.endswith("server stopped after 3 answers"), out
