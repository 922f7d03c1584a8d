"""TCP proxy: AT#XTCPSVR, AT#XTCPCLI, AT#XTCPSEND, AT#XTCPHANGUP (slm_at_tcp_proxy.c).

One proxy exists per modem, either a client or a server (with at most one
peer). It is backed by a real loopback socket; a worker thread reads the
network and writes ``#XTCPDATA`` URCs (or raw bytes in data mode) to the UART.
Because UART writes block while the host does not read, the worker then stops
reading the network, and TCP flow control pushes back on the peer.
"""
from __future__ import annotations

import logging
import selectors
import socket
import threading
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from . import zerrno
from .atcmd import AtCommand, CmdType
from .proxy import (INVALID_SEC_TAG, LOOPBACK, OP_FAMILY, SEC_TAG_MAX, SLM_MAX_MESSAGE_SIZE,
                    SLM_MAX_PAYLOAD_SIZE, SLM_MAX_URL, ConnectFailed, ResolveError, Worker,
                    destination, host_errno, net_delay, peer_ip, send_all, zephyr_family)

if TYPE_CHECKING:
    from .modem import Modem

log = logging.getLogger("slm_sim")

CLOSE = "close"            # PROXY_CLOSE
CLOSE_PEER = "close-peer"  # PROXY_CLOSE_PEER (AT#XTCPHANGUP)
PEER_CLOSE = "peer-close"  # fault injection: the network peer closes
_EOF = 1                   # _drain(): the peer sent FIN (never a real cause, those are <= 0)
_RCVBUF = 32 * 1024        # keep kernel buffering modest so back-pressure is felt early


class TcpProxy:
    """State of the single TCP proxy of one modem."""

    def __init__(self, modem: "Modem") -> None:
        self.modem = modem
        self._lock = threading.RLock()
        self._hangup_done = threading.Event()
        self._reset_state()

    def _reset_state(self) -> None:
        self.role: Optional[str] = None          # "client" / "server"
        self.sock: Optional[socket.socket] = None
        self.sock_handle = -1
        self.peer: Optional[socket.socket] = None
        self.peer_handle = -1
        self.family = 0                           # host AF_*; printed as Zephyr AF_*
        self.efd_handle = -1
        self.worker: Optional[Worker] = None
        self.local_port: Optional[int] = None
        self.remote: Optional[Tuple[str, int]] = None

    # -- helpers -------------------------------------------------------------
    @property
    def _profile(self) -> Any:
        return self.modem.profile

    def _running(self) -> bool:
        # "Proxy is running" check: with an eventfd (2.7+) the proxy stays busy
        # after a remote close until AT#XTCPCLI=0 / AT#XTCPSVR=0 closes it.
        return self.sock is not None or self.efd_handle >= 0

    def _rsp(self, text: str) -> None:
        self.modem.rsp_send(text)

    def status(self) -> Dict[str, Any]:
        with self._lock:
            return {"role": self.role, "handle": self.sock_handle, "peer_handle": self.peer_handle,
                    "family": zephyr_family(self.family), "local_port": self.local_port,
                    "remote": list(self.remote) if self.remote else None,
                    "eventfd": self.efd_handle}

    # -- AT#XTCPSVR ------------------------------------------------------------
    def at_server(self, cmd: AtCommand) -> int:
        if cmd.type is CmdType.READ:
            self._rsp(f"\r\n#XTCPSVR: {self.sock_handle},{self.peer_handle},"
                      f"{zephyr_family(self.family)}\r\n")
            return 0
        if cmd.type is CmdType.TEST:
            self._rsp("\r\n#XTCPSVR: (0,1,2),<port>,<sec_tag>\r\n")
            return 0
        op = cmd.num(1, 0, 65535)
        if op == 0:
            return self._close_proxy()
        if op not in OP_FAMILY:
            return 0  # the firmware ignores other ops and answers OK
        if self._running():
            return -zerrno.EINVAL
        port = cmd.num(2, 0, 65535)
        sec_tag = INVALID_SEC_TAG
        if cmd.param_count > 3:
            sec_tag = cmd.num(3, 0, SEC_TAG_MAX)
        family = OP_FAMILY[op]
        self.modem.record_params({"command": "#XTCPSVR", "op": op, "port": port,
                                  "sec_tag": sec_tag, "tls": sec_tag != INVALID_SEC_TAG})
        return self._start_server(family, port)

    def _start_server(self, family: int, port: int) -> int:
        handle = self.modem.handles.alloc("tcp-listen")
        if handle is None:
            return -zerrno.EMFILE
        self.family = family
        sock: Optional[socket.socket] = None
        try:
            if not self.modem.network.attached:
                raise ConnectFailed(-zerrno.ENETUNREACH)  # no local IP address to bind to
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            sock.bind((LOOPBACK[family], port))
            sock.listen(1)
        except (OSError, ConnectFailed) as exc:
            if sock is not None:
                sock.close()
            self.modem.handles.free(handle)
            code = exc.code if isinstance(exc, ConnectFailed) else host_errno(exc)
            self._rsp(f'\r\n#XTCPSVR: {code},"not started"\r\n')
            return code
        sock.setblocking(False)
        with self._lock:
            self.sock, self.sock_handle = sock, handle
            self.local_port = sock.getsockname()[1]
            self.remote = None
            self.role = "server"
            if self._profile.proxy_eventfd:
                self.efd_handle = self.modem.handles.alloc("tcp-eventfd") or -1
            self.worker = Worker("slm-tcp-server", self._server_loop)
            self.worker.start()
        self._rsp(f'\r\n#XTCPSVR: {handle},"started"\r\n')
        return 0

    # -- AT#XTCPCLI ------------------------------------------------------------
    def at_client(self, cmd: AtCommand) -> int:
        if cmd.type is CmdType.READ:
            self._rsp(f"\r\n#XTCPCLI: {self.sock_handle},{zephyr_family(self.family)}\r\n")
            return 0
        if cmd.type is CmdType.TEST:
            tail = ",<cid>" if self._profile.cid_param else ""
            self._rsp("\r\n#XTCPCLI: (0,1,2),<url>,<port>,<sec_tag>,<peer_verify>,"
                      f"<hostname_verify>{tail}\r\n")
            return 0
        op = cmd.num(1, 0, 65535)
        if op == 0:
            return self._close_proxy()
        if op not in OP_FAMILY:
            return 0
        if self._running():
            return -zerrno.EINVAL
        url = cmd.string(2, SLM_MAX_URL - 1)
        port = cmd.num(3, 0, 65535)
        params: Dict[str, Any] = {"command": "#XTCPCLI", "op": op, "url": url, "port": port,
                                  "sec_tag": INVALID_SEC_TAG, "peer_verify": 2,
                                  "hostname_verify": 1}
        if cmd.param_count > 4:
            params["sec_tag"] = cmd.opt_num(4, INVALID_SEC_TAG, 0, SEC_TAG_MAX)
        if cmd.param_count > 5:
            params["peer_verify"] = cmd.opt_num(5, 2, 0, 2)
        if cmd.param_count > 6:
            params["hostname_verify"] = cmd.opt_num(6, 1, 0, 1)
        if self._profile.cid_param:
            params["cid"] = cmd.num(7, 0, 65535) if cmd.param_count > 7 else 0
        params["tls"] = params["sec_tag"] != INVALID_SEC_TAG
        self.modem.record_params(params)
        return self._connect(OP_FAMILY[op], url, port)

    def _connect(self, family: int, url: str, port: int) -> int:
        handle = self.modem.handles.alloc("tcp")
        if handle is None:
            return -zerrno.EMFILE  # socket() failed: plain ERROR
        self.family = family
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            addr = destination(url, port, family, self.modem.network.attached)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            sock.settimeout(5.0)
            sock.connect(addr)
        except (OSError, ResolveError, ConnectFailed) as exc:
            sock.close()
            self.modem.handles.free(handle)
            if isinstance(exc, (ResolveError, ConnectFailed)):
                code = exc.code
            else:
                code = host_errno(exc)
            self._rsp(f'\r\n#XTCPCLI: {code},"not connected"\r\n')
            return code
        sock.setblocking(False)
        with self._lock:
            self.sock, self.sock_handle = sock, handle
            self.remote = peer_ip(sock.getpeername())
            self.local_port = sock.getsockname()[1]
            self.role = "client"
            if self._profile.proxy_eventfd:
                self.efd_handle = self.modem.handles.alloc("tcp-eventfd") or -1
            self.worker = Worker("slm-tcp-client", self._client_loop)
            self.worker.start()
        self._rsp(f'\r\n#XTCPCLI: {handle},"connected"\r\n')
        return 0

    def _close_proxy(self) -> int:
        """do_tcp_proxy_close(): stop the worker (it prints the URCs), free the eventfd."""
        worker = self.worker
        if worker is None:
            return 0
        if worker.alive():
            worker.post(CLOSE)
            worker.join(10.0)
        with self._lock:
            self.modem.handles.free(self.efd_handle)
            self.efd_handle = -1
            worker.close()
            self.worker = None
        return 0

    # -- AT#XTCPSEND -----------------------------------------------------------
    def at_send(self, cmd: AtCommand) -> int:
        if cmd.type is not CmdType.SET:
            return -zerrno.EINVAL
        datamode = cmd.param_count == 1
        data = b""
        if not datamode:
            first = cmd.params[0]
            if first.kind == "empty":
                datamode = True  # "AT#XTCPSEND=" carries no data either
            elif first.kind == "string" and first.text == "" and self._profile.empty_string_datamode:
                datamode = True
            else:
                data = cmd.string(1, SLM_MAX_PAYLOAD_SIZE).encode("latin-1")
            if self._profile.send_flags_param and cmd.param_count > 2:
                cmd.num(2)  # <flags>, e.g. 512 = wait for ack: nothing to do on loopback
        if datamode:
            return self.modem.datamode.enter(self)
        sock = self.peer if self.role == "server" else self.sock
        if sock is None:
            return -zerrno.EBADF
        try:
            net_delay(self.modem.config.net_delay_ms)
            sent = send_all(sock, data, lambda: self.modem.stopping)
        except OSError as exc:
            return host_errno(exc)
        self._rsp(f"\r\n#XTCPSEND: {sent}\r\n")
        return 0

    # -- AT#XTCPHANGUP ---------------------------------------------------------
    def at_hangup(self, cmd: AtCommand) -> int:
        if cmd.type is CmdType.TEST:
            self._rsp("\r\n#XTCPHANGUP: <handle>\r\n")
            return 0
        if cmd.type is not CmdType.SET:
            return -zerrno.EINVAL
        if self.role != "server" or self.peer is None:
            return -zerrno.EINVAL
        handle = cmd.num(1)
        worker = self.worker
        if handle != self.peer_handle or worker is None or not worker.alive():
            return -zerrno.EINVAL
        # The server thread prints "#XTCPSVR: 0,"disconnected""; wait for it so the
        # URC comes before OK as in the documented exchange.
        self._hangup_done.clear()
        worker.post(CLOSE_PEER)
        self._hangup_done.wait(2.0)
        return 0

    # -- data mode callbacks ---------------------------------------------------
    def datamode_send(self, data: bytes, more_data: bool) -> int:
        sock = self.peer if self.role == "server" else self.sock
        if sock is None:
            return -1
        try:
            net_delay(self.modem.config.net_delay_ms)
            return send_all(sock, data, lambda: self.modem.stopping)
        except OSError:
            return -1

    def datamode_exit(self, unexpected: bool) -> None:
        if unexpected and self._profile.echo_quit_on_drop:
            self._rsp("+++")

    # -- fault injection / lifecycle -------------------------------------------
    def inject_peer_close(self) -> bool:
        """Make the network peer close the connection (after its pending data)."""
        worker = self.worker
        connected = self.peer is not None if self.role == "server" else self.sock is not None
        if worker is None or not worker.alive() or not connected:
            return False
        worker.post(PEER_CLOSE)
        return True

    def pending_rx(self) -> bool:
        """True if the network socket has unread data (used to interleave URCs)."""
        sock = self.peer if self.role == "server" else self.sock
        if sock is None:
            return False
        try:
            return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:
            return False

    def shutdown(self) -> None:
        """Reboot/teardown: drop everything silently."""
        worker = self.worker
        if worker is not None:
            worker.stopping = True
            worker.post(CLOSE)
            worker.join(3.0)
            worker.close()
        with self._lock:
            for sock in (self.peer, self.sock):
                if sock is not None:
                    sock.close()
            self._reset_state()

    # -- worker threads --------------------------------------------------------
    def _deliver(self, worker: Worker, data: bytes) -> bool:
        """#XTCPDATA header (command mode only) then the raw bytes; False if aborted."""
        net_delay(self.modem.config.net_delay_ms)
        if worker.stopping:
            return False
        # The firmware uses two writes (header, then payload); another thread could
        # slip in between, but only after a rare preemption. One write keeps the
        # length-prefixed frame intact.
        header = f"\r\n#XTCPDATA: {len(data)}\r\n".encode()
        return self.modem.datamode.downlink(data, header, self.modem.uart.write)

    def _drain(self, worker: Worker, sock: socket.socket) -> Optional[int]:
        """Read until EAGAIN; None while the connection lives, else _EOF or an error."""
        while not worker.stopping and not worker.has_event(CLOSE):
            try:
                data = sock.recv(SLM_MAX_MESSAGE_SIZE)
            except (BlockingIOError, InterruptedError):
                return None
            except ConnectionResetError:
                return -zerrno.ECONNRESET
            except OSError:
                return -zerrno.EIO
            if not data:
                return _EOF
            if not self._deliver(worker, data):
                return None
        return None

    def _client_loop(self, worker: Worker) -> None:
        sock = self.sock
        assert sock is not None
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ, "sock")
        sel.register(worker.wake_sock, selectors.EVENT_READ, "wake")
        result = 0
        try:
            while True:
                ready = {key.data for key, _ in sel.select(1.0)}
                events = worker.take_events() if "wake" in ready else []
                if worker.stopping:
                    break
                if "sock" in ready or PEER_CLOSE in events:
                    cause = self._drain(worker, sock)
                    if cause is None and PEER_CLOSE in events:
                        cause = _EOF
                    if cause is not None:
                        # POLLHUP (remote close or lost link) is reported as -ECONNRESET.
                        result = -zerrno.ECONNRESET if cause == _EOF else cause
                        break
                if CLOSE in events or worker.has_event(CLOSE):
                    result = 0
                    break
        finally:
            sel.close()
            with self._lock:
                sock.close()
                self.modem.handles.free(self.sock_handle)
                self.sock, self.sock_handle = None, -1
                if not self._profile.proxy_eventfd and result != 0:
                    self.worker = None  # 2.6: nothing is left behind, reconnect works
        if worker.stopping:
            return
        if self.modem.datamode.in_datamode():
            self.modem.datamode.exit_unexpected(result)
        else:
            self._rsp(f'\r\n#XTCPCLI: {result},"disconnected"\r\n')
        if not self._profile.proxy_eventfd and result != 0:
            worker.close()

    def _server_loop(self, worker: Worker) -> None:
        listener = self.sock
        assert listener is not None
        sel = selectors.DefaultSelector()
        sel.register(listener, selectors.EVENT_READ, "listen")
        sel.register(worker.wake_sock, selectors.EVENT_READ, "wake")
        result = 0
        try:
            while True:
                ready = {key.data for key, _ in sel.select(1.0)}
                events = worker.take_events() if "wake" in ready else []
                if worker.stopping:
                    break
                if "listen" in ready:
                    self._accept(listener, sel)
                peer = self.peer
                if peer is not None and ("peer" in ready or PEER_CLOSE in events):
                    cause = self._drain(worker, peer)
                    if cause is None and PEER_CLOSE in events:
                        cause = _EOF
                    if cause is not None:
                        # The server reports a peer's FIN (POLLHUP) as a clean hang-up: 0.
                        self._terminate_peer(sel, 0 if cause == _EOF else cause)
                if CLOSE_PEER in events:
                    self._terminate_peer(sel, 0)
                    self._hangup_done.set()
                if CLOSE in events or worker.has_event(CLOSE):
                    result = 0
                    break
        finally:
            if not worker.stopping:
                self._terminate_peer(sel, result)
            sel.close()
            with self._lock:
                if self.peer is not None:
                    self.peer.close()
                    self.modem.handles.free(self.peer_handle)
                    self.peer, self.peer_handle = None, -1
                listener.close()
                self.modem.handles.free(self.sock_handle)
                self.sock, self.sock_handle = None, -1
        if worker.stopping:
            return
        if self.modem.datamode.in_datamode():
            self.modem.datamode.exit_unexpected(result)
        else:
            self._rsp(f'\r\n#XTCPSVR: {result},"stopped"\r\n')

    def _accept(self, listener: socket.socket, sel: selectors.BaseSelector) -> None:
        try:
            conn, addr = listener.accept()
        except OSError:
            return
        if self.peer is not None:
            conn.close()  # "Full. Close connection."
            return
        handle = self.modem.handles.alloc("tcp-peer")
        if handle is None:
            conn.close()
            return
        conn.setblocking(False)
        with self._lock:
            self.peer, self.peer_handle = conn, handle
            self.remote = peer_ip(addr)
        sel.register(conn, selectors.EVENT_READ, "peer")
        # Not suppressed in data mode: the firmware does not check the mode here.
        self._rsp(f'\r\n#XTCPSVR: "{self.remote[0]}","connected"\r\n')

    def _terminate_peer(self, sel: selectors.BaseSelector, cause: int) -> None:
        with self._lock:
            peer = self.peer
            if peer is None:
                return
            try:
                sel.unregister(peer)
            except (KeyError, ValueError):
                pass
            peer.close()
            self.modem.handles.free(self.peer_handle)
            self.peer, self.peer_handle = None, -1
        if self.modem.datamode.in_datamode():
            self.modem.datamode.exit_unexpected(cause)
        else:
            self._rsp(f'\r\n#XTCPSVR: {cause},"disconnected"\r\n')
