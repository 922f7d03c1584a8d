"""The control port: a line protocol to inject faults into running modems.

One command per line, one reply line per command: ``ok[ <data>]`` or
``error <why>``. Commands act on the most recently connected live modem unless
prefixed with ``modem <index>``. See README.md for the list.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

from .config import parse_option
from .network import CEREG_STATS

if TYPE_CHECKING:
    from .modem import Modem
    from .simulator import Simulator

log = logging.getLogger("slm_sim")

HELP = ("commands: list | status | reboot | reboot-after-tx N | reboot-after-rx N | peer-close"
        " | urc TEXT | cereg STAT | drop-bytes N | corrupt-bytes N | stall MS"
        " | set OPTION VALUE | modem INDEX <command>")


class ControlError(Exception):
    """Bad control command; the message becomes ``error <message>``."""


def _int_arg(args: List[str], name: str) -> int:
    if len(args) != 1:
        raise ControlError(f"usage: {name} <number>")
    try:
        value = int(args[0], 0)
    except ValueError:
        raise ControlError(f"not a number: {args[0]}")
    if value < 0:
        raise ControlError("must be >= 0")
    return value


def execute(sim: "Simulator", line: str) -> str:
    """Run one control command and return its reply (without newline)."""
    try:
        return _execute(sim, line.strip())
    except ControlError as exc:
        return f"error {exc}"
    except Exception as exc:  # a bug must not kill the control connection
        log.exception("control command failed")
        return f"error {type(exc).__name__}: {exc}"


def _execute(sim: "Simulator", line: str) -> str:
    if not line:
        raise ControlError("empty command")
    verb, _, rest = line.partition(" ")
    verb = verb.lower()
    modem: Optional["Modem"] = None
    if verb == "modem":
        index_text, _, line = rest.strip().partition(" ")
        try:
            modem = sim.modems[int(index_text)]
        except (ValueError, IndexError):
            raise ControlError(f"no modem {index_text!r}")
        if not line.strip():
            raise ControlError("usage: modem <index> <command>")
        verb, _, rest = line.strip().partition(" ")
        verb = verb.lower()
    if verb == "help":
        return "ok " + HELP
    if verb == "list":
        return "ok " + " ".join(str(m.index) for m in sim.modems if not m.closed)
    if verb == "set" and modem is None:
        # Without a target, "set" also changes the defaults for modems that boot later.
        field, value = _set_args(rest)
        sim.config = sim.config.copy(**{field: value})
        target = sim.modem
        if target is not None and not target.closed:
            target.config = target.config.copy(**{field: value})
        return "ok"
    if modem is None:
        modem = sim.modem
    if modem is None or modem.closed:
        raise ControlError("no modem connected")
    handler = _HANDLERS.get(verb)
    if handler is None:
        raise ControlError(f"unknown command {verb!r} ({HELP})")
    return handler(modem, rest)


def _set_args(rest: str) -> Tuple[str, object]:
    name, _, value = rest.strip().partition(" ")
    if not name or not value.strip():
        raise ControlError("usage: set <option> <value>")
    try:
        return parse_option(name, value)
    except ValueError as exc:
        raise ControlError(str(exc))


def _cmd_set(modem: "Modem", rest: str) -> str:
    field, value = _set_args(rest)
    try:
        modem.config = modem.config.copy(**{field: value})
    except ValueError as exc:
        raise ControlError(str(exc))
    return "ok"


def _cmd_status(modem: "Modem", rest: str) -> str:
    return "ok " + json.dumps(modem.status(), sort_keys=True)


def _cmd_reboot(modem: "Modem", rest: str) -> str:
    modem.request_reboot()
    return "ok"


def _cmd_reboot_after_tx(modem: "Modem", rest: str) -> str:
    modem.faults.arm_reboot_after_tx(_int_arg(rest.split(), "reboot-after-tx"))
    return "ok"


def _cmd_reboot_after_rx(modem: "Modem", rest: str) -> str:
    modem.faults.arm_reboot_after_rx(_int_arg(rest.split(), "reboot-after-rx"))
    return "ok"


def _cmd_peer_close(modem: "Modem", rest: str) -> str:
    if not modem.tcp.inject_peer_close():
        raise ControlError("no TCP connection to close")
    return "ok"


def _cmd_urc(modem: "Modem", rest: str) -> str:
    if not rest:
        raise ControlError("usage: urc <text>")
    modem.rsp_send(f"\r\n{rest}\r\n")
    return "ok"


def _cmd_cereg(modem: "Modem", rest: str) -> str:
    stat = _int_arg(rest.split(), "cereg")
    if stat not in CEREG_STATS:
        raise ControlError(f"stat must be one of {CEREG_STATS}")
    modem.run_on_thread(lambda: modem.network.set_stat(stat))
    return "ok"


def _cmd_drop(modem: "Modem", rest: str) -> str:
    modem.faults.drop_bytes(_int_arg(rest.split(), "drop-bytes"))
    return "ok"


def _cmd_corrupt(modem: "Modem", rest: str) -> str:
    modem.faults.corrupt_bytes(_int_arg(rest.split(), "corrupt-bytes"))
    return "ok"


def _cmd_stall(modem: "Modem", rest: str) -> str:
    modem.faults.stall(_int_arg(rest.split(), "stall"))
    return "ok"


_HANDLERS: Dict[str, Callable[["Modem", str], str]] = {
    "status": _cmd_status, "reboot": _cmd_reboot,
    "reboot-after-tx": _cmd_reboot_after_tx, "reboot-after-rx": _cmd_reboot_after_rx,
    "peer-close": _cmd_peer_close, "urc": _cmd_urc, "cereg": _cmd_cereg,
    "drop-bytes": _cmd_drop, "corrupt-bytes": _cmd_corrupt, "stall": _cmd_stall,
    "set": _cmd_set,
}


class ControlServer:
    """TCP listener for control connections; one daemon thread per connection."""

    def __init__(self, sim: "Simulator", host: str, port: int) -> None:
        self._sim = sim
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self.address: Tuple[str, int] = (host, int(self._sock.getsockname()[1]))
        self._closed = False
        self._conns: List[socket.socket] = []
        self._thread = threading.Thread(target=self._accept_loop, name="slm-control",
                                        daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), name="slm-control-conn",
                             daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(None)
        buf = b""
        try:
            while not self._closed:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    line = raw.decode("utf-8", "replace").rstrip("\r")
                    if not line.strip():
                        continue
                    reply = execute(self._sim, line)
                    conn.sendall(reply.encode("utf-8") + b"\n")
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self._closed = True
        self._sock.close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=1.0)
