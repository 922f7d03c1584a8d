"""The in-process API: a Simulator owns modems and the transports that reach them.

Example::

    sim = Simulator(fw="3.1", baud=0)
    host = sim.connect_socketpair()   # host end; the modem runs on the other end
    host.recv(100)                    # b"Ready\\r\\n"
    sim.close()

Every host link (socketpair, accepted TCP connection, pty) gets its own freshly
booted modem with its own state and proxies.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import tty
import termios
from typing import Any, Dict, List, Optional, Tuple

from .config import SimConfig
from .modem import Modem
from .uart import FdPort, SocketPort

log = logging.getLogger("slm_sim")


def parse_endpoint(spec: str) -> Tuple[str, int]:
    """``tcp:HOST:PORT`` -> (host, port); only loopback hosts are allowed."""
    kind, sep, rest = spec.partition(":")
    if kind != "tcp" or not sep:
        raise ValueError(f"endpoint must look like tcp:127.0.0.1:0, got {spec!r}")
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")
    if not sep or host not in ("127.0.0.1", "::1", "localhost"):
        raise ValueError(f"only loopback endpoints are allowed, got {spec!r}")
    return ("127.0.0.1" if host == "localhost" else host), int(port)


class Simulator:
    """A set of simulated modems; keyword options are :class:`SimConfig` fields."""

    def __init__(self, fw: str = "3.1", baud: int = 115200, **options: Any) -> None:
        self.config = SimConfig(fw=fw, baud=baud, **options)
        self.config.validate()
        self.modems: List[Modem] = []
        self._lock = threading.Lock()
        self._closed = False
        self._listeners: List[socket.socket] = []
        self._threads: List[threading.Thread] = []
        self._control: Optional[Any] = None

    # -- modems ---------------------------------------------------------------
    def _boot(self, port: Any) -> Modem:
        with self._lock:
            if self._closed:
                port.close()
                raise RuntimeError("simulator is closed")
            modem = Modem(port, self.config.copy(), len(self.modems))
            self.modems.append(modem)
        modem.start()
        return modem

    @property
    def modem(self) -> Optional[Modem]:
        """The most recently connected modem that is still running (else the last one)."""
        with self._lock:
            live = [m for m in self.modems if not m.closed]
            if live:
                return live[-1]
            return self.modems[-1] if self.modems else None

    @property
    def last_params(self) -> Optional[Dict[str, Any]]:
        """Validated parameters of the latest proxy command of :attr:`modem`."""
        modem = self.modem
        return modem.last_params if modem else None

    # -- transports -------------------------------------------------------------
    def connect_socketpair(self) -> socket.socket:
        """Boot a modem on one end of a socketpair and return the host end (blocking)."""
        host_end, sim_end = socket.socketpair()
        self._boot(SocketPort(sim_end, self.config.sndbuf))
        return host_end

    def listen(self, spec: str = "tcp:127.0.0.1:0") -> Tuple[str, int]:
        """Accept TCP connections; each one boots a new modem. Returns (host, port)."""
        host, port = parse_endpoint(spec)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit the small send buffer (flow control depth).
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.sndbuf)
        listener.bind((host, port))
        listener.listen(16)
        listener.settimeout(0.2)
        self._listeners.append(listener)
        thread = threading.Thread(target=self._accept_loop, args=(listener,),
                                  name="slm-listen", daemon=True)
        thread.start()
        self._threads.append(thread)
        return host, int(listener.getsockname()[1])

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._closed:
            try:
                conn, addr = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            log.info("host connected from %s", addr)
            try:
                self._boot(SocketPort(conn, self.config.sndbuf))
            except RuntimeError:
                return

    def open_pty(self) -> str:
        """Boot a modem behind a new raw pty; returns the path the host should open."""
        master, slave = os.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[6][termios.VMIN] = 0   # reads never block: like a UART with timeout=0
        attrs[6][termios.VTIME] = 0
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        path = os.ttyname(slave)
        self._boot(FdPort(master, keep_fd=slave))
        return path

    # -- control --------------------------------------------------------------------
    def start_control(self, spec: str = "tcp:127.0.0.1:0") -> Tuple[str, int]:
        """Open the line-based control port (see README); returns (host, port)."""
        from .control import ControlServer
        host, port = parse_endpoint(spec)
        self._control = ControlServer(self, host, port)
        return self._control.address

    def control(self, line: str) -> str:
        """Run one control-port command in-process; returns the reply line."""
        from .control import execute
        return execute(self, line)

    # -- teardown ---------------------------------------------------------------------
    def close(self) -> None:
        """Stop listening, power off every modem, close the control port."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            modems = list(self.modems)
        for listener in self._listeners:
            listener.close()
        if self._control is not None:
            self._control.close()
        for modem in modems:
            modem.close()
        for thread in self._threads:
            thread.join(timeout=1.0)

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
