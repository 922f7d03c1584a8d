"""The .mpy distribution: tools/build_mpy.py, its package-mpy.json, and the README's figures.

* The build writes one bytecode-only .mpy per module of package.json, and a package file
  listing them by relative URLs.
* ``mip`` (the unix port's) installs that package from a local web server into a temporary
  folder; the driver then imports from the .mpy files and talks to ``slm_sim``: attach, TCP
  and UDP echo.
* The README's size/RAM table is what ``tools/mpy_footprint.py`` measures now (within a
  margin, so that small driver changes do not each need a README update).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import build_mpy, mpy_footprint  # noqa: E402

TOLERANCE = 0.2  # README figures may lag the measurement by this much


@pytest.fixture(scope="module")
def served_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    """``python tools/build_mpy.py --out <root>/build/mpy``, and <root> served over HTTP."""
    root = tmp_path_factory.mktemp("checkout")
    out = root / "build" / "mpy"
    proc = subprocess.run([sys.executable, "tools/build_mpy.py", "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield {"out": out, "url": f"http://127.0.0.1:{server.server_address[1]}/build/mpy/package-mpy.json", "log": proc.stdout}
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_build_lists_every_module_as_bytecode(served_build: Dict[str, Any]) -> None:
    out: Path = served_build["out"]
    modules = build_mpy.modules()
    assert modules and all(m.startswith("slm_mpy/") for m in modules)
    package = json.loads((out / "package-mpy.json").read_text())
    assert package["version"] == build_mpy.source_version()
    expected = [[m[:-3] + ".mpy"] * 2 for m in modules]
    assert package["urls"] == expected
    built = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mpy"))
    assert built == sorted(dest for dest, _ in expected)
    for name in built:
        head = (out / name).read_bytes()[:4]
        assert head[:2] == b"M\x06", (name, head)  # .mpy version 6 (MicroPython >= 1.23)
        assert head[2] >> 2 == 0, (name, head)  # no native-code architecture: runs on any port
    assert f"built {len(built)} .mpy files" in served_build["log"]


@pytest.fixture(scope="module")
def sim_and_peers() -> Iterator[Dict[str, int]]:
    from slm_sim.peers import start_echo_peers

    peers = start_echo_peers()
    proc = subprocess.Popen(
        [sys.executable, "-m", "slm_sim", "--listen", "tcp:127.0.0.1:0", "--fw", "3.1", "--baud", "0", "--net-delay-ms", "20"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first, "slm_sim did not start"
        yield {"sim": int(first.split()[-1]), "tcp": peers.tcp_port, "udp": peers.udp_port}
    finally:
        proc.terminate()
        proc.wait(5)
        peers.close()


USE_DRIVER = """
import socket, sys, time
import slm_mpy
from slm_mpy import engine, tcp, udp

for m in (slm_mpy, engine, tcp, udp):
    assert m.__file__.endswith(".mpy") and m.__file__.startswith(LIB), m.__file__

s = socket.socket()
s.connect(socket.getaddrinfo("127.0.0.1", SIM)[0][-1])
s.setblocking(False)
modem = slm_mpy.SLM(s)
modem.wait_ready(5000)
print(modem.at("AT#XSLMVER")[0])
modem.at("AT+CFUN=1")
start = time.ticks_ms()
while not [l for l in modem.at("AT+CEREG?") if l.split(",")[1] in ("1", "5")]:
    assert time.ticks_diff(time.ticks_ms(), start) < 5000, "not registered"
    time.sleep_ms(20)
data = bytes(range(256)) * 4
with modem.tcp_client("127.0.0.1", TCP) as c:
    assert c.send(data) == len(data)
    got = b""
    while len(got) < len(data):
        got += c.recv(512, timeout_ms=5000)
    assert got == data
u = modem.udp_client("127.0.0.1", UDP)
u.send(b"mpy datagram")
assert u.recv(100, timeout_ms=5000) == b"mpy datagram"
u.close()
print("MPY DRIVER OK")
"""


def test_mip_installs_the_mpy_package_and_the_driver_works(
    micropython_exe: str, served_build: Dict[str, Any], sim_and_peers: Dict[str, int], tmp_path: Path
) -> None:
    lib = tmp_path / "lib"
    env = dict(os.environ, MICROPYPATH=".frozen")
    proc = subprocess.run(
        [micropython_exe, "-m", "mip", "install", "--target", str(lib), served_build["url"]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Done" in out, out  # mip exits 0 even on failure
    installed = sorted(p.relative_to(lib).as_posix() for p in lib.rglob("*") if p.is_file())
    assert installed == sorted(m[:-3] + ".mpy" for m in build_mpy.modules()), out

    script = USE_DRIVER
    for key, value in {"LIB": repr(str(lib)), "SIM": str(sim_and_peers["sim"]), "TCP": str(sim_and_peers["tcp"]), "UDP": str(sim_and_peers["udp"])}.items():
        script = re.sub(rf"\b{key}\b", value, script)
    (tmp_path / "use_driver.py").write_text(script)
    proc = subprocess.run(
        [micropython_exe, "-X", "heapsize=192K", "use_driver.py"],
        cwd=tmp_path, env=dict(os.environ, MICROPYPATH=f"{lib}:.frozen"), capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0 and "MPY DRIVER OK" in proc.stdout, proc.stdout + proc.stderr


def readme_figures() -> List[float]:
    text = (ROOT / "README.md").read_text()
    assert mpy_footprint.START in text and mpy_footprint.END in text, "README.md has no footprint table block"
    block = text.split(mpy_footprint.START, 1)[1].split(mpy_footprint.END, 1)[0]
    return [float(x) for x in re.findall(r"([\d.]+) KiB", block)]


def test_readme_footprint_table_is_current() -> None:
    results, baseline = mpy_footprint.measure()
    measured = [float(x) for x in re.findall(r"([\d.]+) KiB", "\n".join(mpy_footprint.table(results, baseline)))]
    documented = readme_figures()
    assert len(documented) == len(measured), (documented, measured)
    off = [(d, m) for d, m in zip(documented, measured) if abs(d - m) > TOLERANCE * max(m, 1.0)]
    assert not off, (
        "README's footprint table is stale (README, measured): %s\n"
        "update it with: python tools/mpy_footprint.py --update-readme" % off
    )
    # The point of the .mpy form: a much smaller install and import peak.
    py, mpy = results[".py"], results[".mpy"]
    assert mpy["size"] < py["size"] / 2
    assert mpy["heap_import"] < py["heap_import"] * 0.7
