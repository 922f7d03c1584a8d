"""The command line and the control port, driven over raw sockets without any driver."""
from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time

import pytest

from test_sim_support import OK, READY, REPO_ROOT, Host, make_sim  # noqa: F401


class SimProcess:
    """``python -m slm_sim ...`` with its first stdout lines parsed."""

    def __init__(self, *args: str, lines: int = 1) -> None:
        env = dict(os.environ, PYTHONPATH=REPO_ROOT, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "slm_sim", *args], cwd=REPO_ROOT,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = [self._readline() for _ in range(lines)]

    def _readline(self, timeout: float = 10.0) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "simulator printed nothing"
        line = self.proc.stdout.readline().decode()
        assert line, f"simulator exited: {self.proc.stderr.read().decode()}"  # type: ignore
        return line.strip()

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(5)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream:
                    stream.close()


@pytest.fixture()
def sim_process():
    procs = []

    def start(*args: str, lines: int = 1) -> SimProcess:
        proc = SimProcess(*args, lines=lines)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()


def open_host(port: int) -> Host:
    return Host(socket.create_connection(("127.0.0.1", port), timeout=5))


def control(port: int, *lines: str) -> list:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        replies = []
        stream = sock.makefile("rwb")
        for line in lines:
            stream.write(line.encode() + b"\n")
            stream.flush()
            replies.append(stream.readline().decode().rstrip("\n"))
        return replies


def test_listen_raw_socket_session(sim_process):
    proc = sim_process("--listen", "tcp:127.0.0.1:0", "--control", "tcp:127.0.0.1:0",
                       "--baud", "0", "--attach-delay-ms", "10", lines=2)
    assert proc.lines[0].startswith("slm_sim listening on 127.0.0.1 ")
    port = int(proc.lines[0].split()[-1])
    assert proc.lines[1].startswith("control 127.0.0.1 ")
    cport = int(proc.lines[1].split()[-1])

    first = open_host(port)
    first.expect(READY)
    assert first.at("AT") == OK
    assert first.at("AT+CFUN=1") == OK
    # A second connection is an independent, freshly booted modem.
    second = open_host(port)
    second.expect(READY)
    assert second.at("AT+CFUN?") == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"
    assert first.at("AT+CFUN?") == b"\r\n+CFUN: 1\r\n\r\nOK\r\n"

    replies = control(cport, "list", "urc hello", "modem 0 urc first", "status", "nonsense")
    assert replies[0] == "ok 0 1"
    assert replies[1] == "ok"
    second.expect(b"\r\nhello\r\n")
    first.expect(b"\r\nfirst\r\n")
    assert replies[2] == "ok"
    status = json.loads(replies[3][3:])
    assert status["index"] == 1 and status["cfun"] == 0
    assert replies[4].startswith("error ")

    assert control(cport, "reboot") == ["ok"]
    second.expect(READY)
    first.close()
    second.close()
    assert proc.stop() == 0


def test_fw_and_fault_flags(sim_process):
    proc = sim_process("--listen", "tcp:127.0.0.1:0", "--fw", "2.6", "--baud", "0",
                       "--garbage-before-ready", "--fragment", "--seed", "1")
    host = open_host(int(proc.lines[0].split()[-1]))
    banner = host.read_until(READY)
    assert 1 <= len(banner) - len(READY) <= 3
    assert host.at("AT#XSLMVER") == b'\r\n#XSLMVER: "2.6.0","2.6.0-lte-sim"\r\n\r\nOK\r\n'
    host.close()


def test_pty_transport(sim_process):
    proc = sim_process("--pty", "--baud", "0")
    assert proc.lines[0].startswith("slm_sim pty /")
    path = proc.lines[0].split()[-1]
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        def read_until(marker: bytes) -> bytes:
            buf = b""
            deadline = time.monotonic() + 5
            while marker not in buf:
                assert time.monotonic() < deadline, buf
                select.select([fd], [], [], 0.1)
                chunk = os.read(fd, 1024)  # VMIN=0/VTIME=0: returns at once
                buf += chunk
            return buf
        assert read_until(READY) == READY
        os.write(fd, b"AT+CFUN?\r\n")
        assert read_until(OK) == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"
        assert os.read(fd, 100) == b""  # non-blocking for the peer: nothing pending
    finally:
        os.close(fd)


def test_in_process_pty(make_sim):
    sim = make_sim()
    path = sim.open_pty()
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        buf = b""
        deadline = time.monotonic() + 5
        while READY not in buf and time.monotonic() < deadline:
            select.select([fd], [], [], 0.1)
            buf += os.read(fd, 100)
        assert buf == READY
    finally:
        os.close(fd)


def test_help_documents_every_option():
    out = subprocess.run([sys.executable, "-m", "slm_sim", "--help"], cwd=REPO_ROOT,
                         env=dict(os.environ, PYTHONPATH=REPO_ROOT), capture_output=True,
                         text=True, timeout=20, check=True).stdout
    for option in ("--listen", "--pty", "--control", "--fw", "--baud", "--fragment",
                   "--interleave-urcs", "--garbage-before-ready", "--drop-rate",
                   "--corrupt-rate", "--seed", "--reboot-after-tx", "--reboot-after-rx",
                   "--attach-delay-ms", "--net-delay-ms", "--boot-delay-ms", "--sndbuf",
                   "--verbose", "demo"):
        assert option in out


def test_bad_arguments():
    result = subprocess.run([sys.executable, "-m", "slm_sim", "--listen", "tcp:8.8.8.8:0"],
                            cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=REPO_ROOT),
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert "loopback" in result.stderr


def test_in_process_control_port(make_sim):
    sim = make_sim()
    host = make_sim.connect(sim)
    _, port = sim.start_control("tcp:127.0.0.1:0")
    assert control(port, "urc +CEREG: 5", "drop-bytes 0") == ["ok", "ok"]
    host.expect(b"\r\n+CEREG: 5\r\n")
