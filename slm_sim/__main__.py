"""Command line: ``python -m slm_sim --listen tcp:127.0.0.1:0 [options]``.

The first stdout line ends with the listening port (or the pty path); with
``--control`` the second line is ``control <host> <port>``. Both are flushed
at once so a test can read them from a pipe.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from typing import List, Optional

from .config import SimConfig
from .profiles import PROFILES
from .simulator import Simulator

DESCRIPTION = """\
Simulate Nordic's nRF91 Serial LTE Modem (SLM) firmware on a TCP port or a pty.
Each host connection is a freshly booted modem that starts with "Ready\\r\\n".
TCP/UDP proxy commands use real sockets on 127.0.0.1 / ::1.
Subcommands: "demo" (runs the MicroPython driver demo; provided separately)."""


def build_parser() -> argparse.ArgumentParser:
    defaults = SimConfig()
    parser = argparse.ArgumentParser(prog="python -m slm_sim", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--listen", metavar="tcp:HOST:PORT",
                       help="accept host connections here (loopback only, port 0 = any); "
                            "first stdout line: 'slm_sim listening on HOST PORT'")
    where.add_argument("--pty", action="store_true",
                       help="create a raw pty (VMIN=0, VTIME=0); first stdout line: "
                            "'slm_sim pty PATH'")
    parser.add_argument("--control", metavar="tcp:HOST:PORT",
                        help="open the fault-injection control port; second stdout line: "
                             "'control HOST PORT' (protocol in slm_sim/README.md)")
    parser.add_argument("--fw", choices=sorted(PROFILES), default=defaults.fw,
                        help="firmware profile (default %(default)s)")
    parser.add_argument("--baud", type=int, default=defaults.baud,
                        help="UART rate for pacing both directions, 10 bits per byte; "
                             "0 = unpaced (default %(default)s)")
    parser.add_argument("--fragment", type=int, nargs="?", const=8, default=0, metavar="N",
                        help="split host-bound output into random 1..N byte writes with "
                             "tiny gaps (N defaults to 8)")
    parser.add_argument("--interleave-urcs", action="store_true",
                        help="emit a URC (+CEREG, pending #XTCPDATA) between an information "
                             "line and its OK")
    parser.add_argument("--garbage-before-ready", action="store_true",
                        help="send 1-3 stray bytes (0xC0, 0xFF, ...) before each 'Ready'")
    parser.add_argument("--drop-rate", type=float, default=0.0, metavar="P",
                        help="probability that a host-bound byte is lost")
    parser.add_argument("--corrupt-rate", type=float, default=0.0, metavar="P",
                        help="probability that a host-bound byte is altered")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed for the faults (per modem: seed + index)")
    parser.add_argument("--reboot-after-tx", type=int, default=None, metavar="N",
                        help="reboot each modem once after it sent N bytes to the host")
    parser.add_argument("--reboot-after-rx", type=int, default=None, metavar="N",
                        help="reboot each modem once after it received N bytes from the host")
    parser.add_argument("--attach-delay-ms", type=int, default=defaults.attach_delay_ms,
                        help="time from AT+CFUN=1 to registration (default %(default)s)")
    parser.add_argument("--net-delay-ms", type=int, default=defaults.net_delay_ms,
                        help="slow network: delay per received chunk and per send "
                             "(default %(default)s)")
    parser.add_argument("--boot-delay-ms", type=int, default=defaults.boot_delay_ms,
                        help="silence between a reboot and 'Ready' (default %(default)s)")
    parser.add_argument("--sndbuf", type=int, default=defaults.sndbuf,
                        help="host link send buffer, i.e. how much output is in flight "
                             "before flow control blocks the modem (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log to stderr (-v info, -vv debug)")
    return parser


def run_demo(argv: List[str]) -> int:
    """``python -m slm_sim demo``: delegated to slm_sim.demo when it exists."""
    try:
        demo = importlib.import_module("slm_sim.demo")
    except ImportError:
        print("slm_sim demo is not available in this checkout", file=sys.stderr)
        return 2
    return int(demo.main(argv) or 0)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "demo":
        return run_demo(argv[1:])
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.INFO,
                            stream=sys.stderr, format="%(asctime)s %(threadName)s %(message)s")
    try:
        sim = Simulator(fw=args.fw, baud=args.baud, fragment=args.fragment,
                        interleave_urcs=args.interleave_urcs,
                        garbage_before_ready=args.garbage_before_ready,
                        drop_rate=args.drop_rate, corrupt_rate=args.corrupt_rate, seed=args.seed,
                        reboot_after_tx=args.reboot_after_tx, reboot_after_rx=args.reboot_after_rx,
                        attach_delay_ms=args.attach_delay_ms, net_delay_ms=args.net_delay_ms,
                        boot_delay_ms=args.boot_delay_ms, sndbuf=args.sndbuf)
        if args.listen:
            host, port = sim.listen(args.listen)
            print(f"slm_sim listening on {host} {port}", flush=True)
        else:
            print(f"slm_sim pty {sim.open_pty()}", flush=True)
        if args.control:
            chost, cport = sim.start_control(args.control)
            print(f"control {chost} {cport}", flush=True)
    except ValueError as exc:
        print(f"slm_sim: {exc}", file=sys.stderr)
        return 2

    done = threading.Event()

    def stop(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not done.wait(0.5):
            pass
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
