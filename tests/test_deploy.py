"""The deploy path a Pico user follows, with the MicroPython unix port standing in for the board.

``micropython`` runs its REPL on a pty; a thread bridges the pty to a loopback TCP port, and
``mpremote connect socket://127.0.0.1:<port> resume ...`` drives it like a board on USB
(``resume``: no soft reset, which would end the unix process). The "board's" filesystem is a
temporary folder (its ``lib/`` is on ``sys.path``, as ``/lib`` is on a Pico). Then:

* ``mpremote mip install http://127.0.0.1:<port>/package.json`` from a web server on the
  repository (what ``mip install github:<org>/<repo>`` fetches);
* ``mpremote cp boards/rp2040_pico/main.py :main.py`` (and hil_test.py), then ``mpremote run``
  a small wrapper that calls their ``run()`` with a loopback socket to ``slm_sim`` instead of
  ``machine.UART``: attach, TCP echo and HTTP through the simulated modem, from the
  mip-installed driver;
* the board scripts run as-is say clearly that this is not a board;
* ``unix_port_tests/test_engine.py`` copied over and run through ``mpremote run``.
"""

from __future__ import annotations

import ast
import functools
import http.server
import os
import select
import socket
import subprocess
import sys
import threading
import tty
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOARD_DIR = ROOT / "boards" / "rp2040_pico"


class PtyBoard:
    """``micropython`` on a pty, its REPL reachable on ``socket://127.0.0.1:<port>``."""

    def __init__(self, micropython: str, root: Path) -> None:
        self.root = root
        self.lib = root / "lib"
        self.lib.mkdir(parents=True)
        master, slave = os.openpty()
        tty.setraw(slave)
        # "" first: the board's root, like a Pico's sys.path ['', '.frozen', '/lib'].
        env = dict(os.environ, MICROPYPATH=f":{self.lib}:.frozen")
        self.proc = subprocess.Popen(
            [micropython, "-X", "heapsize=192K"], stdin=slave, stdout=slave, stderr=slave,
            cwd=root, env=env, start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop_r, self._stop_w = os.pipe()
        self.console: List[bytes] = []  # what the REPL printed while no client was connected
        self._thread = threading.Thread(target=self._bridge, name="pty-bridge", daemon=True)
        self._thread.start()

    def _bridge(self) -> None:
        # One client at a time (each mpremote command is a new connection).
        client: Optional[socket.socket] = None
        while True:
            watch: List[Any] = [self.master, self.listener, self._stop_r] + ([client] if client else [])
            ready, _, _ = select.select(watch, [], [])
            if self._stop_r in ready:
                break
            if self.listener in ready:
                new, _ = self.listener.accept()
                if client is not None:
                    client.close()
                client = new
            if self.master in ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                if not data:
                    break  # micropython ended
                if client is None:
                    self.console.append(data)
                else:
                    try:
                        client.sendall(data)
                    except OSError:
                        client.close()
                        client = None
            if client is not None and client in ready:
                data = client.recv(4096)
                if data:
                    os.write(self.master, data)
                else:
                    client.close()
                    client = None
        if client is not None:
            client.close()

    def mpremote(self, *args: str, timeout: float = 60) -> str:
        """``mpremote connect socket://... resume <args>``; returns its output (fails on error)."""
        command = [sys.executable, "-m", "mpremote", "connect", f"socket://127.0.0.1:{self.port}", "resume", *args]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{output}"
        assert self.proc.poll() is None, f"micropython exited during {' '.join(args)}:\n{output}"
        return output

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(5)
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.master, self._stop_r, self._stop_w):
            os.close(fd)
        self.listener.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def web() -> Iterator[int]:
    """The repository served over HTTP on loopback; yields the port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(ROOT)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def echo_peers() -> Iterator[Any]:
    from slm_sim.peers import start_echo_peers

    peers = start_echo_peers()
    yield peers
    peers.close()


@pytest.fixture(scope="module")
def sim_port() -> Iterator[int]:
    # --net-delay-ms: some network latency, so an echo never overtakes the modem's own replies.
    proc = subprocess.Popen(
        [sys.executable, "-m", "slm_sim", "--listen", "tcp:127.0.0.1:0", "--fw", "3.1", "--baud", "0", "--net-delay-ms", "20"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first, "slm_sim did not start"
    yield int(first.split()[-1])
    proc.terminate()
    proc.wait(5)


@pytest.fixture(scope="module")
def board(micropython_exe: str, tmp_path_factory: pytest.TempPathFactory, web: int) -> Iterator[PtyBoard]:
    """A 'board' with the driver installed through ``mpremote mip install`` from the web server."""
    b = PtyBoard(micropython_exe, tmp_path_factory.mktemp("board"))
    try:
        out = b.mpremote("mip", "install", f"http://127.0.0.1:{web}/package.json", timeout=120)
        assert "Done" in out, out
        yield b
    finally:
        b.close()


def socket_uart(port: int) -> str:
    """MicroPython code for a non-blocking loopback socket to the simulator: the board's UART."""
    return (
        "import socket\n"
        "uart = socket.socket()\n"
        f"uart.connect(socket.getaddrinfo('127.0.0.1', {port})[0][-1])\n"
        "uart.setblocking(False)\n"
    )


def test_mip_install_put_the_package_into_lib(board: PtyBoard) -> None:
    import json

    listed = [dest for dest, _ in json.loads((ROOT / "package.json").read_text())["urls"]]
    installed = sorted(p.relative_to(board.lib).as_posix() for p in board.lib.rglob("*") if p.is_file())
    assert installed == sorted(listed)
    for dest in listed:
        assert (board.lib / dest).read_bytes() == (ROOT / dest).read_bytes(), dest


def engine_test_names() -> List[str]:
    tree = ast.parse((ROOT / "unix_port_tests" / "test_engine.py").read_text())
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]


# Before the board scripts run: a test process starts with an unfragmented heap, and the
# backpressure test wants 17 KiB in one piece (192 KiB heap, the driver compiled from .py).
def test_engine_tests_run_through_mpremote(board: PtyBoard, tmp_path: Path) -> None:
    for name in ("mockuart.py", "test_engine.py"):
        board.mpremote("cp", str(ROOT / "unix_port_tests" / name), ":" + name)
    wrapper = tmp_path / "run_engine_tests.py"
    wrapper.write_text(
        "import gc, sys\n"
        "for name in ('main', 'hil_test'):  # the earlier runs' modules: free their RAM\n"
        "    sys.modules.pop(name, None)\n"
        "gc.collect()\n"
        "print('free before', gc.mem_free())\n"
        "import test_engine\n"
        "passed = 0\n"
        "for name in sorted(dir(test_engine)):\n"
        "    if name.startswith('test_'):\n"
        "        try:\n"
        "            getattr(test_engine, name)()\n"
        "        except Exception as e:\n"
        "            print('FAIL', name, repr(e))\n"
        "        else:\n"
        "            passed += 1\n"
        "            print('PASS', name)\n"
        "        gc.collect()\n"
        "print('ENGINE TESTS PASSED', passed)\n"
    )
    out = board.mpremote("run", str(wrapper), timeout=120)
    names = engine_test_names()
    assert "FAIL" not in out, out
    assert f"ENGINE TESTS PASSED {len(names)}" in out, out
    for name in names:
        assert f"PASS {name}" in out, out


def test_main_py_runs_against_the_simulator(board: PtyBoard, tmp_path: Path, sim_port: int, echo_peers: Any, web: int) -> None:
    board.mpremote("cp", str(BOARD_DIR / "main.py"), ":main.py")
    wrapper = tmp_path / "run_main.py"
    wrapper.write_text(
        socket_uart(sim_port)
        + "import slm_mpy, main\n"
        + "print('driver from', slm_mpy.__file__)\n"
        + f"ok = main.run(uart=uart, echo=('127.0.0.1', {echo_peers.tcp_port}), "
        + f"http=('127.0.0.1', {web}, '/package.json'), attach_timeout_s=10)\n"
        + "print('MAIN RESULT', ok)\n"
    )
    out = board.mpremote("run", str(wrapper))
    assert f"driver from {board.lib}/slm_mpy/__init__.py" in out, out
    for expected in (
        "[slm] modem ready: #XSLMVER:", "[slm] network: registered (home)", "[slm] attached",
        "[slm] echo OK", "[slm]   HTTP/1.0 200 OK", "[slm] done: all steps OK", "MAIN RESULT True",
    ):
        assert expected in out, out


def test_hil_test_passes_against_the_simulator(board: PtyBoard, tmp_path: Path, sim_port: int, echo_peers: Any) -> None:
    board.mpremote("cp", str(BOARD_DIR / "hil_test.py"), ":hil_test.py")
    wrapper = tmp_path / "run_hil.py"
    wrapper.write_text(
        socket_uart(sim_port)
        + "import hil_test\n"
        + f"hil_test.run(uart=uart, echo_host='127.0.0.1', tcp_port={echo_peers.tcp_port}, "
        + f"udp_port={echo_peers.udp_port}, attach_timeout_s=10)\n"
    )
    out = board.mpremote("run", str(wrapper))
    for name in ("modem", "version", "attach", "tcp echo", "udp echo"):
        assert f"ok   {name}" in out, out
    assert "HIL RESULT: PASS" in out, out


def test_board_scripts_say_when_there_is_no_board(board: PtyBoard) -> None:
    # Run exactly as documented; the unix port has no machine.UART.
    out = board.mpremote("run", str(BOARD_DIR / "hil_test.py"))
    assert "HIL RESULT: SKIPPED (not on a board: no machine.UART)" in out, out
    out = board.mpremote("run", str(BOARD_DIR / "main.py"))
    assert "it needs machine.UART" in out, out


def test_hil_test_skips_when_no_modem_answers(board: PtyBoard, tmp_path: Path) -> None:
    # A "UART" with nothing on the other end: a loopback listener that never says a word.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        wrapper = tmp_path / "silent.py"
        wrapper.write_text(socket_uart(silent.getsockname()[1]) + "import hil_test\nhil_test.run(uart=uart, ready_timeout_ms=1000)\n")
        out = board.mpremote("run", str(wrapper))
    assert "HIL RESULT: SKIPPED (no modem answers on UART1" in out, out
