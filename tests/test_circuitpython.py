"""CircuitPython: the driver over a ``busio.UART``, with ``time.monotonic_ns`` as its clock.

There is no CircuitPython to run in CI, so these tests recreate what differs from MicroPython:

1. The unix-port engine tests (``unix_port_tests/test_engine.py``) run on CPython with their
   ``MockUART`` replaced by :class:`MockBusioUART`, which reads like ``busio.UART``
   (``in_waiting``, a ``readinto`` that blocks for missing bytes, ``timeout`` in seconds).
   Every test must pass without a single stalled read.
2. A real exchange with ``slm_sim`` (attach, TCP and UDP echo through the loopback peers)
   in a subprocess shaped like CircuitPython: no ``time.ticks_ms``/``sleep_ms`` (CPython has
   none: asserted), no ``select``, no ``micropython``/``machine`` modules; the clock must
   be ``time.monotonic_ns``.
3. ``mypy --strict`` over ``slm_mpy/`` and the README's CircuitPython example, against
   ``circuitpython-stubs`` installed into the git-ignored ``build/cp-typings`` (once; later
   runs reuse it). Settings: ``mypy-circuitpython.ini``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

from test_circuitpython_busio import MockBusioUART

ROOT = Path(__file__).resolve().parent.parent
ENGINE_TESTS = ROOT / "unix_port_tests" / "test_engine.py"


# ---------------------------------------------------------------------------
# 1. The engine tests through busio's reading rules


def load_engine_tests() -> types.ModuleType:
    """unix_port_tests/test_engine.py as a CPython module (it is plain Python)."""
    sys.path.insert(0, str(ENGINE_TESTS.parent))
    try:
        spec = importlib.util.spec_from_file_location("unix_engine_tests_on_cpython", ENGINE_TESTS)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ENGINE_TESTS.parent))
    return module


ENGINE = load_engine_tests()
ENGINE_FUNCTIONS = sorted(name for name in vars(ENGINE) if name.startswith("test_"))


@pytest.fixture
def busio_uarts(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> List[MockBusioUART]:
    """Make the engine tests build MockBusioUARTs (with the parametrized timeout); list them."""
    made: List[MockBusioUART] = []
    timeout = request.param

    def factory(responder: Any = None, chunk: int = 0, seed: int = 1) -> MockBusioUART:
        uart = MockBusioUART(responder, chunk, seed, timeout=timeout, receiver_buffer_size=64)
        made.append(uart)
        return uart

    monkeypatch.setattr(ENGINE, "MockUART", factory)
    return made


def test_engine_tests_are_found() -> None:
    assert len(ENGINE_FUNCTIONS) >= 10, ENGINE_FUNCTIONS
    assert callable(getattr(ENGINE, "modem_with", None)), "test_engine.modem_with is gone: update this file"


# timeout=1.0 is busio's default: a read beyond in_waiting would stall a whole second.
@pytest.mark.parametrize("busio_uarts", [0, 1.0], ids=["timeout=0", "timeout=1"], indirect=True)
@pytest.mark.parametrize("name", ENGINE_FUNCTIONS)
def test_engine_over_busio_uart(name: str, busio_uarts: List[MockBusioUART]) -> None:
    getattr(ENGINE, name)()
    assert busio_uarts, "the test made no UART through test_engine.MockUART"
    for uart in busio_uarts:
        assert uart.reads > 0
        assert uart.stalled_reads == 0, (
            f"the driver asked busio.UART.readinto for more than in_waiting {uart.stalled_reads} times"
        )


def test_adapter_uses_in_waiting_and_no_poller_for_busio() -> None:
    from slm_mpy.compat import _IN_WAITING, Transport

    uart = MockBusioUART(timeout=1.0)
    t = Transport(uart)
    assert t._kind == _IN_WAITING
    assert t._poller is None  # busio has no fileno(): waits are short sleeps
    uart.feed(b"0123456789")
    buf = bytearray(4096)
    got = 0
    while got < 10:
        got += t.read_into(memoryview(buf)[got:])
    assert bytes(buf[:10]) == b"0123456789" and uart.stalled_reads == 0


# ---------------------------------------------------------------------------
# 2. A real exchange in a CircuitPython-shaped process

CIRCUITPY_SCRIPT = r'''
import sys, time

sys.path[:0] = [ROOT, TESTS]
import socket
from test_circuitpython_busio import SocketBusioUART  # imports socket (and select) first

# What CircuitPython lacks. CPython's time has no ticks_ms either: the check is the point.
assert not hasattr(time, "ticks_ms") and not hasattr(time, "sleep_ms"), "CPython grew ticks_ms?"
for name in ("select", "micropython", "machine"):
    sys.modules[name] = None  # `import select` etc. now raise ImportError

clock_calls = [0]
_monotonic_ns = time.monotonic_ns
def counting_monotonic_ns():
    clock_calls[0] += 1
    return _monotonic_ns()
time.monotonic_ns = counting_monotonic_ns

import slm_mpy
from slm_mpy import compat

assert compat.select is None
from slm_mpy import ticks  # compat's clock where time has no ticks_ms

assert not hasattr(compat, "_ms") and ticks._ns is counting_monotonic_ns
loaded = sorted(m for m in sys.modules if m.startswith("slm_"))
assert "slm_sim" not in loaded, loaded

sock = socket.create_connection(("127.0.0.1", SIM_PORT))
uart = SocketBusioUART(sock, baudrate=115200, timeout=0, receiver_buffer_size=RXBUF)
modem = slm_mpy.SLM(uart)
assert modem.transport._kind == compat._IN_WAITING
cereg = []
modem.on("+CEREG", cereg.append)
modem.wait_ready(5000)
print(modem.at("AT#XSLMVER")[0])
modem.at("AT+CEREG=1")
modem.at("AT+CFUN=1")
start = compat.ticks_ms()
while not cereg or cereg[-1].split(":")[1].split(",")[0].strip() not in ("1", "5"):
    assert compat.ticks_diff(compat.ticks_ms(), start) < 5000, cereg
    modem.poll()
    modem.transport.wait(5)
print("registered", cereg)

# Binary (so it goes through data mode), with protocol look-alikes; no "+++" runs: those
# are the data-mode tests' business. Under 2 KiB: the echo comes back while send() still
# runs, and must fit the connection's receive queue (2048 bytes) until recv() reads it.
payload = bytes(range(256)) * 6 + b"\"quotes\"\r\nOK\r\n#XTCPDATA: 5\r\n"
with modem.tcp_client("127.0.0.1", TCP_PORT) as c:
    assert c.send(b"hello circuitpython") == 19
    got = b""
    while len(got) < 19:
        got += c.recv(100, timeout_ms=5000)
    assert got == b"hello circuitpython", got
    assert c.send(payload) == len(payload)
    got = bytearray()
    while len(got) < len(payload):
        got += c.recv(1024, timeout_ms=5000)
    assert bytes(got) == payload
print("tcp echo ok", len(payload))

u = modem.udp_client("127.0.0.1", UDP_PORT)
u.send(b"datagram")
data, addr = u.recvfrom(100, timeout_ms=5000)
assert data == b"datagram", data
u.close()
print("udp echo ok", addr)
assert clock_calls[0] > 10, clock_calls
assert uart.stalled_reads == 0, uart.stalled_reads
print("clock calls", clock_calls[0], "reads", uart.reads)
uart.deinit()
print("CIRCUITPY-SHAPED OK")
'''


class Sim:
    """``python -m slm_sim --listen tcp:127.0.0.1:0 <args>``; ``port`` from its first line."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "slm_sim", "--listen", "tcp:127.0.0.1:0", *args],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("slm_sim did not start: " + (self.proc.stderr.read() if self.proc.stderr else ""))
        self.port = int(line.split()[-1])

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err or ""


@pytest.fixture(scope="module")
def echo_peers() -> Iterator[Any]:
    from slm_sim.peers import start_echo_peers

    peers = start_echo_peers()
    yield peers
    peers.close()


# 115200 baud paces the simulator like the real UART; 0 is unpaced (bursts fill the buffer).
# --net-delay-ms gives the loopback network some of LTE's latency.
@pytest.mark.parametrize("sim_args", ["--fw 3.1 --baud 115200", "--fw 2.6 --baud 0 --net-delay-ms 30"])
def test_echo_through_simulator_circuitpython_shaped(sim_args: str, echo_peers: Any, tmp_path: Path) -> None:
    sim = Sim(*sim_args.split())
    try:
        script = CIRCUITPY_SCRIPT
        for key, value in {
            "ROOT": repr(str(ROOT)), "TESTS": repr(str(ROOT / "tests")), "SIM_PORT": str(sim.port),
            "TCP_PORT": str(echo_peers.tcp_port), "UDP_PORT": str(echo_peers.udp_port), "RXBUF": "512",
        }.items():
            script = re.sub(rf"\b{key}\b", value, script)
        proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path,
                              capture_output=True, text=True, timeout=30)
    finally:
        sim_err = sim.stop()
    assert proc.returncode == 0 and "CIRCUITPY-SHAPED OK" in proc.stdout, (
        proc.stdout + proc.stderr + "\n--- slm_sim stderr ---\n" + sim_err
    )
    assert "#XSLMVER" in proc.stdout and "tcp echo ok" in proc.stdout and "udp echo ok" in proc.stdout


# ---------------------------------------------------------------------------
# 3. Type check against circuitpython-stubs

CP_STUBS = "circuitpython-stubs==10.3.1"
CP_BOARD = "raspberry_pi_pico"  # the board the README example is written for
CP_TYPINGS = ROOT / "build" / "cp-typings"


def ensure_cp_typings(target: Path = CP_TYPINGS) -> Path:
    """Install the stubs with pip --target (kept until the pin changes), board set to the Pico."""
    marker = target / ".installed"
    want = f"{CP_STUBS} board={CP_BOARD}"
    if marker.is_file() and marker.read_text().strip() == want:
        return target
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-user",
         "--target", str(target), CP_STUBS],
        check=True,
    )
    # What `circuitpython_setboard <board>` does: the board's pin names become `board`.
    shutil.copyfile(target / "board_definitions" / CP_BOARD / "__init__.pyi", target / "board-stubs" / "__init__.pyi")
    marker.write_text(want + "\n")
    return target


def readme_circuitpython_example() -> str:
    """The first ```python block of the README's '## CircuitPython' section."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## CircuitPython\b.*?^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## CircuitPython' section with a ```python example"
    return match.group(1)


def run_cp_mypy(*files: str) -> subprocess.CompletedProcess[str]:
    typings = ensure_cp_typings()
    # mypy finds PEP 561 stub packages on the interpreter's sys.path: PYTHONPATH adds them
    # without a second virtual environment.
    env = dict(os.environ, PYTHONPATH=str(typings))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy-circuitpython.ini", "--no-color-output", *files],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_slm_mpy_type_checks_against_circuitpython_stubs(tmp_path: Path) -> None:
    example = ROOT / "build" / "circuitpython_example.py"
    example.parent.mkdir(exist_ok=True)
    example.write_text(readme_circuitpython_example())
    proc = run_cp_mypy("slm_mpy", str(example.relative_to(ROOT)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    modules = len(list((ROOT / "slm_mpy").rglob("*.py")))
    match = re.search(r"no issues found in (\d+) source files?", proc.stdout)
    assert match and int(match.group(1)) == modules + 1, proc.stdout


def test_circuitpython_stubs_are_really_used(tmp_path: Path) -> None:
    # A wrong busio call must fail: proves the stubs (not an Any fallback) were read.
    bad = ROOT / "build" / "circuitpython_bad_example.py"
    bad.parent.mkdir(exist_ok=True)
    bad.write_text(textwrap.dedent("""\
        import board
        import busio
        uart = busio.UART(board.GP4, board.GP5, timeout="0", rxbuf=2048)
        uart.any()
    """))
    proc = run_cp_mypy(str(bad.relative_to(ROOT)))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for expected in ('"timeout"', '"rxbuf"', '"any"'):
        assert expected in proc.stdout, proc.stdout
