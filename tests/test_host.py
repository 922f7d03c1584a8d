"""``python -m slm_host``: the AT terminal on CPython + pyserial, driven like a person would.

The modem is ``slm_sim --pty``; the terminal opens the pty with pyserial, exactly as it opens
``/dev/ttyACM0`` for an nRF9160 DK. The test types into the terminal's stdin and reads its
stdout through pipes.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from slm_host.jobs import cereg_stat, describe, is_cereg_read_form
from slm_host.terminal import unescape

ROOT = Path(__file__).resolve().parent.parent


class Process:
    """A subprocess whose stdout lines are collected by a thread; ``expect`` waits for one."""

    def __init__(self, args: List[str], stdin: bool = True) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, text=True,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.seen: List[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("\0EOF")

    def expect(self, pattern: str, timeout: float = 10.0) -> str:
        """The next line matching ``pattern`` (regex, searched); earlier lines are kept in ``seen``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                line = None
            if line is None or line == "\0EOF":
                raise AssertionError(f"no line matching {pattern!r}; output so far:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> int:
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                return self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()


@pytest.fixture(scope="module")
def echo_peers() -> Iterator[Any]:
    from slm_sim.peers import start_echo_peers

    peers = start_echo_peers()
    yield peers
    peers.close()


def start_sim(*args: str) -> "tuple[Process, str]":
    sim = Process(["-m", "slm_sim", *args], stdin=True)
    first = sim.expect(r"^slm_sim ", timeout=20)
    return sim, first.split()[-1]


@pytest.fixture
def sim_pty() -> Iterator[str]:
    # A slow attach (0.8 s) so the +CEREG URCs arrive while the terminal sits idle at its prompt.
    sim, path = start_sim("--pty", "--fw", "3.1", "--baud", "115200", "--attach-delay-ms", "800")
    assert path.startswith("/dev/"), path
    yield path
    sim.proc.terminate()
    sim.stop()


def test_terminal_against_simulator_pty(sim_pty: str, echo_peers: Any) -> None:
    term = Process(["-m", "slm_host", "--port", sim_pty, "--baud", "115200"])
    try:
        term.expect(r"^modem ready: #XSLMVER: \"3\.1")
        term.type("AT+CFUN?")
        term.expect(r"^\+CFUN: 0$")
        term.expect(r"^OK$")
        term.type("AT+CEREG=1")
        term.expect(r"^OK$")
        term.type("AT+CFUN=1")
        term.expect(r"^OK$")
        # Nothing typed now: the URCs must show up by themselves, as they arrive.
        assert term.expect(r"\+CEREG") == "[urc] +CEREG: 2"
        assert term.expect(r"\+CEREG", timeout=5) == "[urc] +CEREG: 1"

        term.type(":status")
        term.expect(r"^functional mode +\+CFUN: 1$")
        term.expect(r"^registration +\+CEREG: 1,1 +-> registered, home network$")

        term.type(f":tcp 127.0.0.1 {echo_peers.tcp_port} hello\\r\\nthere")
        term.expect(r"^connected to 127\.0\.0\.1:\d+")
        term.expect(r"^sent 12 bytes$")
        term.expect(r"^received 12 bytes$")
        assert term.expect(r"hello") == "hello"
        assert term.expect(r"there") == "there"

        term.type(f":udp 127.0.0.1 {echo_peers.udp_port} ping")
        term.expect(r"^received 4 bytes from 127\.0\.0\.1:\d+$")
        term.expect(r"^ping$")

        term.type(":version")
        term.expect(r"^SLM version +#XSLMVER: \"3\.1\.0\"")
        term.expect(r"^IMEI +\d{15}$")

        term.type("AT+NOSUCHTHING")
        term.expect(r"^ERROR$")
        term.type("AT#XTCPSEND")
        term.expect(r"^not sent: .*data mode")
        term.type(":tcp 127.0.0.1")
        term.expect(r"^error: usage: :tcp")
        term.type(":help")
        term.expect(r":attach \[seconds\]")
        term.type("AT+CFUN?")  # the modem is still in step after all that
        term.expect(r"^\+CFUN: 1$")
        term.type(":quit")
        assert term.stop() == 0
    finally:
        term.stop()


def test_attach_command(sim_pty: str) -> None:
    term = Process(["-m", "slm_host", "--port", sim_pty])
    try:
        term.expect(r"^modem ready")
        term.type(":attach 10")
        term.expect(r"^AT\+CFUN=1: OK, waiting up to 10 s")
        term.expect(r"^network: searching")
        term.expect(r"^network: registered, home network")
        term.expect(r"^attached: registered, home network$")
        # After :attach the terminal shows +CEREG URCs again.
        term.type("AT+CFUN=4")
        term.expect(r"^OK$")
        term.expect(r"^\[urc\] \+CEREG: 0")
        term.stop()  # end of input quits too
        assert term.proc.returncode == 0
    finally:
        term.stop()


def test_pyserial_url_to_the_tcp_simulator() -> None:
    # --port takes pyserial URLs: the simulator's TCP mode works without a pty.
    sim, port = start_sim("--listen", "tcp:127.0.0.1:0", "--fw", "2.6", "--baud", "0")
    try:
        term = Process(["-m", "slm_host", "--port", f"socket://127.0.0.1:{port}"])
        term.expect(r"^modem ready: #XSLMVER: \"2\.6")
        term.type("AT+CGSN=1")
        term.expect(r"^\+CGSN: \"\d{15}\"$")
        term.type(":quit")
        assert term.stop() == 0
    finally:
        sim.proc.terminate()
        sim.stop()


def test_unopenable_port_is_reported() -> None:
    term = Process(["-m", "slm_host", "--port", "/dev/no-such-modem"], stdin=False)
    term.expect(r"cannot open /dev/no-such-modem")
    assert term.stop() == 2


def test_text_escapes() -> None:
    assert unescape(r"GET / HTTP/1.0\r\n\r\n") == b"GET / HTTP/1.0\r\n\r\n"
    assert unescape(r"\x00\xff\\x\t") == b"\x00\xff\\x\t"
    assert unescape("grüße \\q") == "grüße \\q".encode()


def test_cereg_forms() -> None:
    assert is_cereg_read_form("+CEREG: 5,1,\"1285\",\"02EF8210\",7") and cereg_stat("+CEREG: 5,1") == 1
    assert not is_cereg_read_form("+CEREG: 2") and cereg_stat("+CEREG: 2") == 2
    assert not is_cereg_read_form('+CEREG: 1,"1285","02EF8210",7') and cereg_stat('+CEREG: 5,"12","34",7') == 5
    assert describe(b"ok\r\nbin\x00") == "ok\nbin\\x00"
