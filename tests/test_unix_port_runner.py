"""Meta-tests of the unix-port plugin (tools/mpy_pytest.py).

Each test writes throw-away MicroPython test modules into a temporary
directory and runs pytest on them in a subprocess, with the plugin loaded and
with a stand-in `slm_sim` package (a tiny fake simulator and fake echo peers)
that shadows the real one, so these tests check the plugin alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

ROOT = Path(__file__).resolve().parent.parent

FAKE_SIM_MAIN = '''
import os, socket, sys

expected = ["--listen", "tcp:127.0.0.1:0", "--control", "tcp:127.0.0.1:0"]
if sys.argv[1:5] != expected:
    sys.exit("unexpected command line: %r" % sys.argv)
args = " ".join(sys.argv[5:])
with open(os.path.join(os.environ["FAKE_SIM_RECORDS"], str(os.getpid())), "w") as f:
    f.write(args)
listener = socket.create_server(("127.0.0.1", 0))
control = socket.create_server(("127.0.0.1", 0))
print("fake slm_sim: modem on", listener.getsockname()[1])
print("fake slm_sim: control on", control.getsockname()[1])
boots = 0
while True:
    conn, _ = listener.accept()
    boots += 1
    conn.sendall(("boot %d %s\\n" % (boots, args)).encode())
    conn.close()
'''

FAKE_PEERS = '''
import os

class _Peers:
    env = {"SLM_ECHO_TCP_PORT": "7001", "SLM_ECHO_UDP_PORT": "7002",
           "SLM_ECHO_TCP6_PORT": "7003", "SLM_ECHO_UDP6_PORT": "7004"}

    def close(self):
        with open(os.environ["FAKE_PEERS_LOG"], "a") as f:
            f.write("closed\\n")

def start_echo_peers():
    with open(os.environ["FAKE_PEERS_LOG"], "a") as f:
        f.write("started\\n")
    return _Peers()
'''

BASIC_MODULE = '''
# timeout: 1
import os
import sys


class SkipTest(Exception):
    pass


def helper_is_not_collected():
    raise RuntimeError("not a test")


def test_passes():
    print("hello from micropython")
    assert sys.implementation.name == "micropython"
    assert sys.path[-1] == ".frozen", sys.path
    assert os.getenv("SLM_ECHO_UDP6_PORT") == "7004"
    assert os.getenv("SLM_SIM_PORT") is None


def test_fails():
    print("printed before the assert")
    assert 1 + 1 == 3, "arithmetic is broken"


async def test_async_passes():
    import asyncio

    await asyncio.sleep_ms(1)


def test_hangs():
    while True:
        pass


def test_exits_early():
    sys.exit(0)


def test_skips():
    raise SkipTest("nothing to do here")
'''

# Valid for CPython, rejected by MicroPython (no `match` statement).
MICROPYTHON_SYNTAX_ERROR_MODULE = '''
def test_never_runs():
    match 1:
        case 1:
            pass
'''

SIM_MODULE = '''
# slm_sim: --fw 3.1 --baud 0
# slm_sim: --fw 2.6 --baud 0 --fragment
import os
import socket


def _boot():
    port = int(os.getenv("SLM_SIM_PORT"))
    assert int(os.getenv("SLM_SIM_CONTROL_PORT")) > 0
    sock = socket.socket()
    sock.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    data = b""
    while not data.endswith(b"\\n"):
        chunk = sock.recv(100)
        assert chunk, data
        data += chunk
    sock.close()
    word, count, args = data.decode().rstrip("\\n").split(" ", 2)
    assert word == "boot" and args in ("--fw 3.1 --baud 0", "--fw 2.6 --baud 0 --fragment"), data
    return int(count)


def test_first_connection():
    assert _boot() == 1


def test_second_connection_same_simulator():
    assert _boot() == 2
'''


@dataclass
class Outcome:
    status: str  # passed, failed, skipped, error
    text: str


def run_pytest(
    tmp_path: Path, modules: Dict[str, str], *args: str
) -> "tuple[subprocess.CompletedProcess[str], Dict[str, Outcome]]":
    tests = tmp_path / "unix_port_tests"
    tests.mkdir()
    for name, source in modules.items():
        (tests / name).write_text(textwrap.dedent(source).lstrip())
    fake = tmp_path / "slm_sim"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text(FAKE_SIM_MAIN)
    (fake / "peers.py").write_text(FAKE_PEERS)
    (tmp_path / "records").mkdir()
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = dict(os.environ)
    env.update(
        # The temporary directory is the working directory, so its slm_sim
        # comes first; the repository provides the plugin (tools/).
        PYTHONPATH=str(ROOT),
        FAKE_SIM_RECORDS=str(tmp_path / "records"),
        FAKE_PEERS_LOG=str(tmp_path / "peers.log"),
    )
    junit = tmp_path / "junit.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tools.mpy_pytest", "-p", "no:cacheprovider",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
         f"--junitxml={junit}", "-q", *args, "unix_port_tests"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    outcomes: Dict[str, Outcome] = {}
    if junit.exists():
        for case in ET.parse(junit).iter("testcase"):
            status, text = "passed", ""
            for child in case:
                if child.tag in ("failure", "error", "skipped"):
                    status = {"failure": "failed"}.get(child.tag, child.tag)
                    text = (child.get("message") or "") + "\n" + (child.text or "")
                    break
            outcomes[case.get("name", "")] = Outcome(status, text)
    return proc, outcomes


def test_outcomes_follow_the_micropython_process(tmp_path: Path) -> None:
    proc, got = run_pytest(tmp_path, {
        "test_meta_basic.py": BASIC_MODULE,
        "test_meta_upy_syntax.py": MICROPYTHON_SYNTAX_ERROR_MODULE,
    })
    report = proc.stdout + proc.stderr
    assert proc.returncode == 1, report  # some tests failed
    assert set(got) == {
        "test_passes", "test_fails", "test_async_passes", "test_hangs",
        "test_exits_early", "test_skips", "test_never_runs",
    }, report

    assert got["test_passes"].status == "passed", got["test_passes"].text
    assert got["test_async_passes"].status == "passed", got["test_async_passes"].text

    # A failing assertion fails the item and shows the MicroPython traceback and output.
    fails = got["test_fails"]
    assert fails.status == "failed"
    assert "AssertionError: arithmetic is broken" in fails.text
    assert "printed before the assert" in fails.text
    assert 'test_meta_basic.py", line' in fails.text  # the traceback, not just the message

    # A MicroPython syntax error (valid CPython) fails the item.
    syntax = got["test_never_runs"]
    assert syntax.status == "failed" and "SyntaxError" in syntax.text, syntax.text

    hangs = got["test_hangs"]
    assert hangs.status == "failed" and "timed out after 1 s" in hangs.text, hangs.text

    early = got["test_exits_early"]
    assert early.status == "failed" and "exited before the test function returned" in early.text

    skips = got["test_skips"]
    assert skips.status == "skipped" and "nothing to do here" in skips.text, skips.text

    # The echo peers were started once for the session, and closed.
    assert (tmp_path / "peers.log").read_text().split() == ["started", "closed"]
    # No module asked for the simulator.
    assert list((tmp_path / "records").iterdir()) == []


def test_a_python_syntax_error_is_a_collection_error(tmp_path: Path) -> None:
    proc, got = run_pytest(tmp_path, {
        "test_meta_ok.py": "def test_fine():\n    pass\n",
        "test_meta_broken.py": "def test_broken(:\n    pass\n",
    })
    report = proc.stdout + proc.stderr
    assert proc.returncode == 2, report  # interrupted: errors during collection
    assert "ERROR unix_port_tests/test_meta_broken.py" in report, report
    assert "SyntaxError" in report, report


def test_simulator_per_args_line_shared_by_the_module(tmp_path: Path) -> None:
    proc, got = run_pytest(tmp_path, {"test_meta_sim.py": SIM_MODULE})
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    # Items are ordered by args line, then by function.
    assert list(got) == [
        "test_first_connection[--fw 3.1 --baud 0]",
        "test_second_connection_same_simulator[--fw 3.1 --baud 0]",
        "test_first_connection[--fw 2.6 --baud 0 --fragment]",
        "test_second_connection_same_simulator[--fw 2.6 --baud 0 --fragment]",
    ], report
    assert all(o.status == "passed" for o in got.values()), report

    # One simulator per args line, each stopped by the end of the run.
    records = {int(p.name): p.read_text() for p in (tmp_path / "records").iterdir()}
    assert sorted(records.values()) == ["--fw 2.6 --baud 0 --fragment", "--fw 3.1 --baud 0"]
    for pid in records:
        assert not _alive(pid), f"simulator {pid} still running"


def test_keyword_and_marker_selection(tmp_path: Path) -> None:
    proc, got = run_pytest(tmp_path, {"test_meta_basic.py": BASIC_MODULE}, "-k", "passes and unix", "-m", "unix_port")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(got) == ["test_async_passes", "test_passes"], proc.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is finished too; only a child of ours could be one, and it is not.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
