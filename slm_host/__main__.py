"""``python -m slm_host --port <device> [--baud 115200]``: interactive AT terminal."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

DESCRIPTION = """\
Interactive AT terminal for an nRF91 running Nordic's Serial LTE Modem firmware, through
the slm_mpy driver: URCs are shown as they arrive, and :help lists shortcuts for the common
jobs (:version, :attach, :status, :tcp, :udp). Lines without ':' go to the modem as AT
commands. --port also takes pyserial URLs such as socket://127.0.0.1:PORT (slm_sim)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m slm_host", description=DESCRIPTION)
    parser.add_argument("--port", required=True, help="serial device (/dev/ttyACM0, COM5) or pyserial URL")
    parser.add_argument("--baud", type=int, default=115200, help="baud rate (default %(default)s)")
    parser.add_argument("--rtscts", action="store_true",
                        help="RTS/CTS flow control on the host side (for a USB-UART wired to the "
                             "SLM UART; the DK's own USB port does not need it)")
    parser.add_argument("--ready-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="how long to wait for 'Ready' or an answer to AT at start (default %(default)s)")
    parser.add_argument("--at-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="time allowed for a typed AT command (default %(default)s)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import serial
    except ImportError:
        print("slm_host needs pyserial: pip install pyserial", file=sys.stderr)
        return 2

    from slm_mpy import SLM

    from .terminal import Terminal

    try:
        port = serial.serial_for_url(args.port, baudrate=args.baud, timeout=0, rtscts=args.rtscts)
    except (serial.SerialException, ValueError) as e:
        print("slm_host: cannot open %s: %s" % (args.port, e), file=sys.stderr)
        return 2
    try:
        modem = SLM(port)
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        term = Terminal(modem, sys.stdout, interactive, int(args.at_timeout * 1000))
        term.say("slm_host: %s at %d baud%s" % (args.port, args.baud, ", RTS/CTS" if args.rtscts else ""))
        try:
            modem.wait_ready(int(args.ready_timeout * 1000))
            version = modem.at("AT#XSLMVER", 5000)
            term.say("modem ready: %s" % (version[0] if version else "(no #XSLMVER line)"))
        except OSError as e:
            term.say("warning: no answer from an SLM modem yet (%s); commands are sent anyway" % e)
        term.say("type AT commands or :help")
        return term.run(sys.stdin)
    finally:
        port.close()


if __name__ == "__main__":
    sys.exit(main())
