"""Loopback network peers for tests: TCP and UDP echo servers on 127.0.0.1 and ::1.

Usage::

    from slm_sim.peers import start_echo_peers
    peers = start_echo_peers()
    peers.env  # {"SLM_ECHO_TCP_PORT": "...", "SLM_ECHO_UDP_PORT": "...",
               #  "SLM_ECHO_TCP6_PORT": "...", "SLM_ECHO_UDP6_PORT": "..."}
    peers.close()

All servers run in one daemon thread around a selector, so there is nothing
to join at interpreter exit and no thread per client.
"""
from __future__ import annotations

import errno
import selectors
import socket
import threading
from typing import Dict, List, Optional

__all__ = ["EchoPeers", "start_echo_peers"]

# Stop reading from a TCP client while this much echo is still unsent, so a
# client that never reads cannot make the peer buffer without bound.
_MAX_PENDING = 256 * 1024
_UDP_MAX = 65535


class _TcpClient:
    """State of one accepted TCP connection: bytes waiting to be echoed back."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = bytearray()
        self.eof = False  # the client half-closed its sending side


class EchoPeers:
    """A running set of echo servers; ``env`` maps the SLM_ECHO_* names to ports."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._clients: Dict[int, _TcpClient] = {}
        self._closing = False
        self._owned: List[socket.socket] = []
        self.env: Dict[str, str] = {}
        self.tcp_port = self._listen_tcp(socket.AF_INET, "127.0.0.1", "SLM_ECHO_TCP_PORT")
        self.udp_port = self._bind_udp(socket.AF_INET, "127.0.0.1", "SLM_ECHO_UDP_PORT")
        self.tcp6_port = self._listen_tcp(socket.AF_INET6, "::1", "SLM_ECHO_TCP6_PORT")
        self.udp6_port = self._bind_udp(socket.AF_INET6, "::1", "SLM_ECHO_UDP6_PORT")
        self._thread = threading.Thread(target=self._run, name="slm-echo-peers", daemon=True)
        self._thread.start()

    # -- setup ---------------------------------------------------------------
    def _listen_tcp(self, family: int, host: str, key: str) -> Optional[int]:
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            return None  # no IPv6 on this host: leave the key out of env
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, 0))
            sock.listen(64)
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        self._owned.append(sock)
        self._sel.register(sock, selectors.EVENT_READ, ("listen", None))
        port = sock.getsockname()[1]
        self.env[key] = str(port)
        return int(port)

    def _bind_udp(self, family: int, host: str, key: str) -> Optional[int]:
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.bind((host, 0))
        except OSError:
            return None
        sock.setblocking(False)
        self._owned.append(sock)
        self._sel.register(sock, selectors.EVENT_READ, ("udp", None))
        port = sock.getsockname()[1]
        self.env[key] = str(port)
        return int(port)

    # -- event loop ----------------------------------------------------------
    def _run(self) -> None:
        while not self._closing:
            for key, mask in self._sel.select(timeout=1.0):
                kind, client = key.data
                if kind == "wake":
                    return
                if kind == "listen":
                    self._accept(key.fileobj)  # type: ignore[arg-type]
                elif kind == "udp":
                    self._echo_datagram(key.fileobj)  # type: ignore[arg-type]
                else:
                    self._service_client(client, mask)

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        sock.setblocking(False)
        client = _TcpClient(sock)
        self._clients[sock.fileno()] = client
        self._sel.register(sock, selectors.EVENT_READ, ("tcp", client))

    def _echo_datagram(self, sock: socket.socket) -> None:
        try:
            data, addr = sock.recvfrom(_UDP_MAX)
            sock.sendto(data, addr)
        except OSError:
            pass  # e.g. ICMP errors surfacing on the socket; echo is best effort

    def _service_client(self, client: _TcpClient, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            try:
                data = client.sock.recv(65536)
            except BlockingIOError:
                data = None
            except OSError:
                self._drop(client)
                return
            if data == b"":
                client.eof = True
            elif data:
                client.pending += data
        if client.pending:
            try:
                sent = client.sock.send(client.pending)
                del client.pending[:sent]
            except BlockingIOError:
                pass
            except OSError:
                self._drop(client)
                return
        if client.eof and not client.pending:
            # Half-close handling: everything was echoed, now close our side too.
            try:
                client.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self._drop(client)
            return
        self._update_interest(client)

    def _update_interest(self, client: _TcpClient) -> None:
        events = 0
        if not client.eof and len(client.pending) < _MAX_PENDING:
            events |= selectors.EVENT_READ
        if client.pending:
            events |= selectors.EVENT_WRITE
        self._sel.modify(client.sock, events, ("tcp", client))

    def _drop(self, client: _TcpClient) -> None:
        self._clients.pop(client.sock.fileno(), None)
        try:
            self._sel.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()

    # -- teardown ------------------------------------------------------------
    def close(self) -> None:
        """Stop the event loop and close every socket (idempotent)."""
        if self._closing:
            return
        self._closing = True
        try:
            self._wake_w.send(b"x")
        except OSError as exc:  # pragma: no cover - only if already torn down
            if exc.errno != errno.EBADF:
                raise
        self._thread.join(timeout=2.0)
        for client in list(self._clients.values()):
            client.sock.close()
        self._clients.clear()
        for sock in self._owned:
            sock.close()
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> "EchoPeers":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_echo_peers() -> EchoPeers:
    """Start TCP+UDP echo servers on 127.0.0.1 and ::1 (ephemeral ports, daemon thread)."""
    return EchoPeers()
