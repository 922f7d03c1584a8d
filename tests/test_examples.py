"""The example programs, run as a user would, through slm_sim: real clients, real servers.

* MQTT: micropython-lib's ``umqtt.simple`` 1.3.4 (the PyPI sdist, fetched at test time and
  checked against a pinned SHA-256; never stored in the repository) talks to a real
  ``mosquitto`` broker on a loopback port: connect, subscribe, publish at QoS 0 and 1,
  receive its own messages, disconnect. Skipped only when mosquitto is not installed
  (``.ci/run`` installs the Debian package).
* HTTP: an HTTP/1.1 GET of a 64 KiB body from Python's ``http.server``, byte-exact (SHA-256).
* asyncio: a UDP heartbeat during a 64 KiB TCP echo (slm_sim's echo peers), under the unix
  port and under CPython's asyncio.

The programs run are ``examples/*.py`` themselves, under ``micropython -X heapsize=192K``,
so the examples and the README section that quotes them stay true.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import os
import random
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from tools.mpy_pytest import HEAPSIZE, SimProcess

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

UMQTT_PROJECT = "micropython-umqtt-simple"
UMQTT_SDIST = "micropython-umqtt.simple-1.3.4.tar.gz"
UMQTT_SHA256 = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"


# ---------------------------------------------------------------------------
# umqtt.simple from PyPI


def _index_url() -> str:
    """The package index pip is configured with (PIP_INDEX_URL, pip config, else pip's default)."""
    url = os.environ.get("PIP_INDEX_URL", "")
    if not url:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True, text=True,
        )
        url = proc.stdout.strip() if proc.returncode == 0 else ""
    if not url:
        from pip._internal.models.index import PyPI  # pip's own default index

        url = PyPI.simple_url
    return url.rstrip("/") + "/"


def _fetch(url: str, accept: str) -> Tuple[bytes, str]:
    cafile = os.environ.get("PIP_CERT") or None
    context = ssl.create_default_context(cafile=cafile)
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=60, context=context) as response:
        return response.read(), response.headers.get("Content-Type", "")


def download_umqtt(dest: Path) -> Path:
    """Fetch the umqtt.simple 1.3.4 sdist through the simple index API and check its SHA-256.

    ``pip download`` cannot be used: it insists on building metadata, and this sdist has
    neither setup.py nor pyproject.toml.
    """
    page_url = urllib.parse.urljoin(_index_url(), UMQTT_PROJECT + "/")
    page, kind = _fetch(page_url, "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    if "json" in kind:
        urls = [f["url"] for f in json.loads(page)["files"] if f["filename"] == UMQTT_SDIST]
    else:
        urls = [m for m in re.findall(r'href="([^"]+)"', page.decode()) if UMQTT_SDIST in m]
    assert urls, f"{UMQTT_SDIST} is not listed at {page_url}"
    data, _ = _fetch(urllib.parse.urljoin(page_url, urls[0]), "*/*")
    digest = hashlib.sha256(data).hexdigest()
    assert digest == UMQTT_SHA256, f"{UMQTT_SDIST}: SHA-256 {digest}, expected {UMQTT_SHA256}"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.getmember("micropython-umqtt.simple-1.3.4/umqtt/simple.py")
        source = tar.extractfile(member)
        assert source is not None
        target = dest / "umqtt" / "simple.py"
        target.parent.mkdir(parents=True)
        target.write_bytes(source.read())
    # umqtt is a namespace package in the sdist; MicroPython wants a real one.
    (dest / "umqtt" / "__init__.py").write_text("")
    return dest


@pytest.fixture(scope="session")
def umqtt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return download_umqtt(tmp_path_factory.mktemp("umqtt"))


# ---------------------------------------------------------------------------
# mosquitto


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mosquitto_exe() -> str:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(exe, os.X_OK):
        pytest.skip("mosquitto is not installed (Debian package 'mosquitto'; .ci/run installs it)")
    return exe


class Broker:
    def __init__(self, exe: str, workdir: Path) -> None:
        self.log: List[str] = []
        for _ in range(5):  # the port may be taken between choosing and binding it
            self.port = _free_port()
            conf = workdir / "mosquitto.conf"
            conf.write_text(
                f"listener {self.port} 127.0.0.1\n"
                "allow_anonymous true\n"
                "persistence false\n"
                "log_dest stderr\n"  # unbuffered, unlike stdout into a pipe

                "log_type all\n"
            )
            self.proc = subprocess.Popen(
                [exe, "-c", str(conf)], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
            threading.Thread(target=self._pump, daemon=True).start()
            if self._wait_listening():
                return
            self.stop()
        raise RuntimeError("mosquitto did not start:\n" + "\n".join(self.log))

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line.rstrip())

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def wait_log(self, text: str, timeout: float = 5.0) -> str:
        """The broker's log once ``text`` appeared in it (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.log) and time.monotonic() < deadline:
            time.sleep(0.05)
        return "\n".join(self.log)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(_mosquitto_exe(), tmp_path)
    yield b
    b.stop()


# ---------------------------------------------------------------------------
# Running an example under the unix port against the simulator


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[SimProcess]:
    s = SimProcess(request.param, cwd=ROOT)
    yield s
    s.stop()


def run_example(micropython: str, sim: SimProcess, name: str, path: List[Path], env: Dict[str, str]) -> str:
    """Run ``examples/<name>`` under ``micropython`` (or CPython: ``sys.executable``)."""
    full_env = dict(os.environ)
    full_env.update(env)
    full_env["SLM_SIM_PORT"] = str(sim.port)
    full_env["MICROPYPATH"] = ":".join([str(ROOT)] + [str(p) for p in path] + [".frozen"])
    full_env["PYTHONPATH"] = str(ROOT)
    command = [micropython, str(EXAMPLES / name)]
    if micropython != sys.executable:
        command[1:1] = ["-X", f"heapsize={HEAPSIZE}"]
    started = time.monotonic()
    proc = subprocess.run(
        command,
        env=full_env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
    )
    output = proc.stdout + proc.stderr
    print(f"{name}: {time.monotonic() - started:.1f} s\n{output}")
    assert proc.returncode == 0, f"{name} failed:\n{output}\n--- simulator ---\n{sim.tail()}"
    return output


@pytest.mark.parametrize("sim", ["--fw 3.1 -vv", "--fw 2.6 -vv"], indirect=True)
def test_umqtt_simple_through_the_socket_shim(micropython_exe: str, sim: SimProcess, broker: Broker, umqtt_dir: Path) -> None:
    out = run_example(
        micropython_exe, sim, "mqtt_umqtt.py", [umqtt_dir],
        {"MQTT_HOST": "localhost", "MQTT_PORT": str(broker.port)},  # localhost: AT#XGETADDRINFO
    )
    assert f"connected to localhost {broker.port}" in out
    assert "received b'slm_mpy/example' b'hello at QoS 0'" in out
    assert "received b'slm_mpy/example' b'hello at QoS 1'" in out
    assert "disconnected; MQTT example done" in out
    log = broker.wait_log("Received DISCONNECT from slm-mpy-example")
    assert "as slm-mpy-example" in log, log  # the broker saw the client connect...
    assert "Received PUBLISH from slm-mpy-example" in log and "q1" in log, log
    assert "Received DISCONNECT from slm-mpy-example" in log, log  # ...and leave cleanly


def proxy_requests(sim: SimProcess) -> List[Dict[str, object]]:
    """The proxy commands the modem validated, from the simulator's -v log (modem ended)."""
    found = []
    for line in sim.tail().splitlines():
        i = line.find('{"')
        if i >= 0 and '"command"' in line:
            found.append(json.loads(line[i:]))
    return found


@pytest.mark.parametrize("sim", ["--fw 3.1 -v"], indirect=True)
def test_umqtt_simple_with_ssl_asks_the_modem_for_tls(micropython_exe: str, sim: SimProcess, broker: Broker, umqtt_dir: Path) -> None:
    # The simulator records the TLS request but carries plain TCP, so the session still works.
    out = run_example(
        micropython_exe, sim, "mqtt_umqtt.py", [umqtt_dir],
        {"MQTT_HOST": "localhost", "MQTT_PORT": str(broker.port), "MQTT_SEC_TAG": "16842753"},
    )
    assert "disconnected; MQTT example done" in out
    connects = [p for p in proxy_requests(sim) if p["command"] == "#XTCPCLI"]
    # umqtt connects, then wraps: a plain connect first, then the TLS one
    assert [p["tls"] for p in connects] == [False, True], connects
    assert connects[1]["sec_tag"] == 16842753, connects
    assert connects[1]["url"] == "localhost", connects  # the name the modem verifies


# ---------------------------------------------------------------------------
# HTTP


def http_body() -> bytes:
    body = bytearray(random.Random(6).randbytes(64 * 1024))
    for i, plant in enumerate([b"+++", b"\r\nOK\r\n", b"\r\n#XTCPDATA: 5\r\n", b"Ready\r\n", b"\r\nERROR\r\n"]):
        at = 4099 + i * 9001
        body[at : at + len(plant)] = plant
    return bytes(body)


class _Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests: List[str] = []

    def do_GET(self) -> None:
        # A network round trip. The request leaves in data mode; on loopback the answer
        # could otherwise reach the modem before it has left data mode (which on a real
        # link, tens of ms away, it cannot) and arrive unframed, ahead of #XDATAMODE.
        time.sleep(0.05)
        super().do_GET()

    def log_request(self, code: object = "-", size: object = "-") -> None:
        self.requests.append(f"{self.requestline} {code}")


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[Tuple[int, bytes, List[str]]]:
    body = http_body()
    (tmp_path / "body.bin").write_bytes(body)
    requests: List[str] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], body, requests
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("sim", ["--fw 3.1", "--fw 2.6 --fragment"], indirect=True)
def test_http_get_64k_byte_exact(micropython_exe: str, sim: SimProcess, http_server: Tuple[int, bytes, List[str]]) -> None:
    port, body, requests = http_server
    out = run_example(
        micropython_exe, sim, "http_get.py", [],
        {"HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(port), "HTTP_PATH": "/body.bin"},
    )
    assert requests == ["GET /body.bin HTTP/1.1 200"], requests
    assert "status: HTTP/1.1 200 OK" in out
    assert f"body bytes: {len(body)}" in out
    assert f"sha256: {hashlib.sha256(body).hexdigest()}" in out


# ---------------------------------------------------------------------------
# asyncio


@pytest.fixture(scope="module")
def echo_peers() -> Iterator[Dict[str, str]]:
    from slm_sim.peers import start_echo_peers

    peers = start_echo_peers()
    yield {
        "ECHO_HOST": "127.0.0.1",
        "ECHO_TCP_PORT": peers.env["SLM_ECHO_TCP_PORT"],
        "ECHO_UDP_PORT": peers.env["SLM_ECHO_UDP_PORT"],
    }
    peers.close()


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
@pytest.mark.parametrize("sim", ["--fw 3.1"], indirect=True)
def test_aio_heartbeat_during_tcp_echo(micropython_exe: str, sim: SimProcess, echo_peers: Dict[str, str], runtime: str) -> None:
    exe = micropython_exe if runtime == "micropython" else sys.executable
    out = run_example(exe, sim, "aio_heartbeat.py", [], echo_peers)
    assert "echoed 65536 bytes in" in out and ", intact" in out, out
    during = re.search(r"heartbeats: (\d+), (\d+) of them during the transfer", out)
    assert during, out
    assert int(during.group(2)) >= 5, out  # the heartbeat ran all along, not before or after
