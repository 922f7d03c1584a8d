"""An interactive AT terminal on top of slm_mpy, for a modem on a serial port.

One thread owns the modem: the main loop polls it whenever no input line is waiting, so
URCs appear as they arrive (marked ``[urc]``), also while you type. A second thread only
reads standard input and hands whole lines over; it asks for the next line once the
previous one was handled, so prompts and answers come out in order.

Lines starting with ``:`` are terminal commands (``:help`` lists them); anything else is
sent as one AT command and its information lines and final result are printed.
"""

from __future__ import annotations

import queue
import re
import sys
import threading
from typing import Callable, Dict, List, Optional, TextIO

from slm_mpy import SLM, ATError, ModemReset
from slm_mpy.engine import DATAMODE

from . import jobs

HELP = """\
Type an AT command (e.g. AT+CFUN?) to send it, or one of:
  :version                     SLM and modem firmware versions, model, IMEI
  :attach [seconds]            AT+CFUN=1, then wait for +CEREG registered (default 180 s)
  :status                      functional mode, registration, signal, TCP/UDP proxies
  :tcp <host> <port> [text]    connect, send text, print what comes back (2 s of quiet ends)
  :udp <host> <port> [text]    send one datagram, print the reply (waits 5 s)
  :help                        this text
  :quit                        leave (so do Ctrl-D and Ctrl-C at the prompt)
In text, \\r \\n \\t \\\\ and \\xHH are escapes: :tcp example.com 80 HEAD / HTTP/1.0\\r\\n\\r\\n
Lines from the modem that are not answers to a command are shown as [urc]."""

# Notifications the modem and SLM send on their own. The driver hands a line that arrives
# while a command runs to that command, unless a handler claims its prefix: so these are
# claimed by name, and the catch-all "" shows the rest between commands.
URC_PREFIXES = (
    "+CEREG", "+CSCON", "+CGEV", "+CEDRXP", "+CNEC_EMM", "+CNEC_ESM", "+CMT",
    "%CESQ", "%XSIM", "%MDMEV", "%XMODEMSLEEP", "%NCELLMEAS", "%XTIME", "%XT3412", "%XVBATLOWLVL",
    "#XPING", "#XTCPCLI", "#XTCPSVR", "#XUDPCLI", "#XUDPSVR", "#XDATAMODE", "#XGPS", "#XGPSEVT",
    "#XNRFCLOUD", "#XMQTTEVT", "#XHTTPCRSP", "#XFOTA", "#XCARRIEREVT", "#XPPP", "#XPOLL", "#XSMS",
)

# Commands that put SLM into data mode without data: the terminal cannot stream for them.
_DATAMODE_COMMANDS = re.compile(r"^AT#X(TCP|UDP)?SEND(TO)?$", re.IGNORECASE)
# Proxy/socket commands whose received data only :tcp / :udp can collect.
_PROXY_OPEN = re.compile(r"^AT#X(TCPCLI|UDPCLI|TCPSVR|UDPSVR)=[12]", re.IGNORECASE)


def unescape(text: str) -> bytes:
    """``text`` as UTF-8 bytes, with ``\\r \\n \\t \\0 \\\\ \\xHH`` turned into their bytes."""
    out = bytearray()
    raw = text.encode("utf-8")
    simple = {ord("r"): 13, ord("n"): 10, ord("t"): 9, ord("0"): 0, ord("\\"): 92}
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 92 and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
            if nxt == ord("x") and re.fullmatch(rb"[0-9a-fA-F]{2}", raw[i + 2 : i + 4]):
                out.append(int(raw[i + 2 : i + 4], 16))
                i += 4
                continue
        out.append(c)
        i += 1
    return bytes(out)


class Terminal:
    """Reads lines, runs them against ``modem``, writes everything to ``out``."""

    def __init__(self, modem: SLM, out: TextIO = sys.stdout, interactive: bool = False, at_timeout_ms: int = 10000) -> None:
        self.modem = modem
        self.out = out
        self.interactive = interactive
        self.prompt = "slm> " if interactive else ""
        self.at_timeout_ms = at_timeout_ms
        self._prompt_shown = False
        self.commands: Dict[str, Callable[[List[str]], None]] = {
            "version": self.cmd_version,
            "attach": self.cmd_attach,
            "status": self.cmd_status,
            "tcp": self.cmd_tcp,
            "udp": self.cmd_udp,
            "help": self.cmd_help,
        }
        for prefix in URC_PREFIXES + ("", "Ready"):
            modem.on(prefix, self.show_urc)
        if interactive:
            try:
                import readline  # noqa: F401  (input() edits lines and keeps history with it)
            except ImportError:
                pass

    # --- output

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def show_urc(self, line: str) -> None:
        if self._prompt_shown:
            self.out.write("\r\x1b[K")  # the URC goes above the prompt line
        self.say("[urc] " + line)
        if line == "Ready":
            self.say("(the modem rebooted)")
        if self._prompt_shown:
            self.out.write(self.prompt + _typed_so_far())
            self.out.flush()

    # --- input loop

    def run(self, stdin: TextIO) -> int:
        """Serve until ``:quit`` or end of input; returns the exit status."""
        lines: "queue.Queue[Optional[str]]" = queue.Queue()
        want_line = threading.Event()
        reader = threading.Thread(target=self._read_lines, args=(stdin, lines, want_line), daemon=True)
        want_line.set()
        reader.start()
        modem = self.modem
        while True:
            try:
                try:
                    line = lines.get_nowait()
                except queue.Empty:
                    if not modem.poll():
                        modem.transport.wait(50)
                    continue
            except KeyboardInterrupt:
                self.say("")
                return 0
            self._prompt_shown = False
            if line is None:
                return 0
            try:
                if not self.handle(line):
                    return 0
            except KeyboardInterrupt:
                self.recover()
                self.say("(interrupted)")
            want_line.set()

    def _read_lines(self, stdin: TextIO, lines: "queue.Queue[Optional[str]]", want_line: threading.Event) -> None:
        while True:
            want_line.wait()
            want_line.clear()
            try:
                if self.interactive:
                    self._prompt_shown = True
                    line = input(self.prompt)
                else:
                    line = stdin.readline()
                    if not line:
                        raise EOFError
            except (EOFError, KeyboardInterrupt, ValueError):
                lines.put(None)
                return
            lines.put(line.rstrip("\r\n"))

    # --- one line

    def handle(self, line: str) -> bool:
        """Run one input line; False means quit."""
        text = line.strip()
        if not text:
            return True
        if text.startswith(":"):
            name, _, rest = text[1:].partition(" ")
            name = name.lower()
            if name in ("quit", "q", "exit"):
                return False
            command = self.commands.get(name)
            if command is None:
                self.say("unknown command :%s (:help lists them)" % name)
                return True
            try:
                command(rest.split(None, 2))
            except (OSError, ValueError) as e:
                self.say("error: %s" % _error_text(e))
            return True
        self.send_at(text)
        return True

    def send_at(self, text: str) -> None:
        if _DATAMODE_COMMANDS.match(text):
            self.say("not sent: %s without data enters data mode; use :tcp or :udp" % text)
            return
        if _PROXY_OPEN.match(text):
            self.say("note: data received through this proxy is discarded here; :tcp and :udp collect it")
        try:
            lines = self.modem.at(text, self.at_timeout_ms)
        except ATError as e:
            for info in e.lines:
                self.say(info)
            self.say(e.line)
            return
        except ModemReset:
            self.say("(the modem rebooted while running %s)" % text)
            return
        except ValueError as e:
            self.say("not sent: %s" % e)
            return
        except OSError as e:
            self.say("error: %s" % _error_text(e))
            return
        for info in lines:
            self.say(info)
        self.say("OK")

    def recover(self) -> None:
        """After Ctrl-C inside a command: forget it; its late reply is recognised as stale."""
        modem = self.modem
        if modem.state == DATAMODE:
            modem.write(b"+++")
            modem.leave_datamode()
        modem.abandon(0)

    # --- terminal commands

    def cmd_help(self, args: List[str]) -> None:
        self.say(HELP)

    def cmd_version(self, args: List[str]) -> None:
        jobs.version(self.modem, self.say)

    def cmd_status(self, args: List[str]) -> None:
        jobs.status(self.modem, self.say)

    def cmd_attach(self, args: List[str]) -> None:
        seconds = float(args[0]) if args else 180.0
        stat = jobs.attach(self.modem, self.say, seconds, then=self.show_urc)
        self.say("attached: %s" % jobs.REGISTERED[stat])

    def _endpoint(self, args: List[str], usage: str) -> "tuple[str, int, bytes]":
        if len(args) < 2:
            raise ValueError("usage: " + usage)
        try:
            port = int(args[1])
        except ValueError:
            raise ValueError("port must be a number: %r" % args[1]) from None
        return args[0], port, unescape(args[2]) if len(args) > 2 else b""

    def cmd_tcp(self, args: List[str]) -> None:
        host, port, data = self._endpoint(args, ":tcp <host> <port> [text]")
        reply = jobs.tcp_exchange(self.modem, host, port, data, self.say)
        if reply:
            self.say(jobs.describe(reply))

    def cmd_udp(self, args: List[str]) -> None:
        host, port, data = self._endpoint(args, ":udp <host> <port> [text]")
        reply, _ = jobs.udp_exchange(self.modem, host, port, data or b"\n", self.say)
        if reply:
            self.say(jobs.describe(reply))


def _error_text(e: BaseException) -> str:
    if isinstance(e, OSError) and e.errno is not None and e.strerror:
        return "[errno %d] %s" % (e.errno, e.strerror)
    return str(e)


def _typed_so_far() -> str:
    try:
        import readline
    except ImportError:
        return ""
    return readline.get_line_buffer()


__all__ = ["HELP", "Terminal", "unescape"]
