"""UDP proxy: AT#XUDPSVR, AT#XUDPCLI, AT#XUDPSEND (slm_at_udp_proxy.c).

One UDP proxy per modem, client (connected socket) or server (replies go to
the sender of the last datagram received). Every datagram becomes one
``#XUDPDATA`` URC; in data mode every flush is one datagram.
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
                    destination, host_errno, net_delay, peer_ip, zephyr_family)

if TYPE_CHECKING:
    from .modem import Modem

log = logging.getLogger("slm_sim")

CLOSE = "close"
_MAX_DATAGRAM = 65535


class UdpProxy:
    """State of the single UDP proxy of one modem."""

    def __init__(self, modem: "Modem") -> None:
        self.modem = modem
        self._lock = threading.RLock()
        self._reset_state()

    def _reset_state(self) -> None:
        self.role: Optional[str] = None
        self.sock: Optional[socket.socket] = None
        self.sock_handle = -1
        self.family = 0
        self.efd_handle = -1
        self.worker: Optional[Worker] = None
        self.remote: Optional[Tuple[str, int]] = None    # last sender (server) / peer (client)
        self.local_port: Optional[int] = None
        self.dtls = False

    @property
    def _profile(self) -> Any:
        return self.modem.profile

    def _rsp(self, text: str) -> None:
        self.modem.rsp_send(text)

    def status(self) -> Dict[str, Any]:
        with self._lock:
            return {"role": self.role, "handle": self.sock_handle,
                    "family": zephyr_family(self.family), "local_port": self.local_port,
                    "remote": list(self.remote) if self.remote else None,
                    "eventfd": self.efd_handle}

    # -- AT#XUDPSVR ------------------------------------------------------------
    def at_server(self, cmd: AtCommand) -> int:
        if cmd.type is CmdType.READ:
            self._rsp(f"\r\n#XUDPSVR: {self.sock_handle},{zephyr_family(self.family)}\r\n")
            return 0
        if cmd.type is CmdType.TEST:
            self._rsp("\r\n#XUDPSVR: (0,1,2),<port>,<sec_tag>\r\n")
            return 0
        op = cmd.num(1, 0, 65535)
        if op == 0:
            return self._close_proxy()
        if op not in OP_FAMILY:
            return 0
        if self.sock is not None:  # socket_is_in_use(): the eventfd is not checked here
            return -zerrno.EINVAL
        port = cmd.num(2, 0, 65535)
        sec_tag = INVALID_SEC_TAG
        if cmd.param_count > 3:
            sec_tag = cmd.num(3, 0, SEC_TAG_MAX)
        self.modem.record_params({"command": "#XUDPSVR", "op": op, "port": port,
                                  "sec_tag": sec_tag, "tls": sec_tag != INVALID_SEC_TAG})
        return self._start_server(OP_FAMILY[op], port, sec_tag)

    def _start_server(self, family: int, port: int, sec_tag: int) -> int:
        handle = self.modem.handles.alloc("udp")
        if handle is None:
            return -zerrno.EMFILE
        self.family = family
        sock: Optional[socket.socket] = None
        try:
            if sec_tag != INVALID_SEC_TAG:
                # DTLS server needs the native-TLS build; the default build says ENOTSUP.
                raise ConnectFailed(-zerrno.ENOTSUP)
            if not self.modem.network.attached:
                raise ConnectFailed(-zerrno.ENETUNREACH)
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((LOOPBACK[family], port))
        except (OSError, ConnectFailed) as exc:
            if sock is not None:
                sock.close()
            self.modem.handles.free(handle)
            code = exc.code if isinstance(exc, ConnectFailed) else host_errno(exc)
            # The firmware really prints "#UDPSVR" (no X) here.
            self._rsp(f'\r\n#UDPSVR: {code},"not started"\r\n')
            return code
        sock.setblocking(False)
        with self._lock:
            self.sock, self.sock_handle = sock, handle
            self.local_port = sock.getsockname()[1]
            self.role = "server"
            self.remote = None
            self.dtls = False
            self._start_worker()
        self._rsp(f'\r\n#XUDPSVR: {handle},"started"\r\n')
        return 0

    # -- AT#XUDPCLI ------------------------------------------------------------
    def at_client(self, cmd: AtCommand) -> int:
        if cmd.type is CmdType.READ:
            self._rsp(f"\r\n#XUDPCLI: {self.sock_handle},{zephyr_family(self.family)}\r\n")
            return 0
        if cmd.type is CmdType.TEST:
            self._rsp("\r\n#XUDPCLI: (0,1,2),<url>,<port>,<sec_tag>,<use_dtls_cid>,"
                      "<peer_verify>,<hostname_verify>\r\n")
            return 0
        op = cmd.num(1, 0, 65535)
        if op == 0:
            return self._close_proxy()
        if op not in OP_FAMILY:
            return 0
        if self.sock is not None:
            return -zerrno.EINVAL
        url = cmd.string(2, SLM_MAX_URL - 1)
        port = cmd.num(3, 0, 65535)
        params: Dict[str, Any] = {"command": "#XUDPCLI", "op": op, "url": url, "port": port,
                                  "sec_tag": INVALID_SEC_TAG, "use_dtls_cid": None,
                                  "peer_verify": 2, "hostname_verify": 1}
        if cmd.param_count > 4:
            params["sec_tag"] = cmd.num(4, 0, SEC_TAG_MAX)
        if cmd.param_count > 5:
            params["use_dtls_cid"] = cmd.num(5, 0, 2)  # disabled / supported / enabled
        if cmd.param_count > 6:
            params["peer_verify"] = cmd.num(6, 0, 2)
        if cmd.param_count > 7:
            params["hostname_verify"] = cmd.num(7, 0, 1)
        if self._profile.cid_param:
            params["cid"] = cmd.num(8, 0, 65535) if cmd.param_count > 8 else 0
        params["tls"] = params["sec_tag"] != INVALID_SEC_TAG
        self.modem.record_params(params)
        return self._connect(OP_FAMILY[op], url, port, params["tls"])

    def _connect(self, family: int, url: str, port: int, dtls: bool) -> int:
        handle = self.modem.handles.alloc("udp")
        if handle is None:
            return -zerrno.EMFILE
        self.family = family
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            addr = destination(url, port, family, self.modem.network.attached)
            sock.connect(addr)
        except (OSError, ResolveError, ConnectFailed) as exc:
            sock.close()
            self.modem.handles.free(handle)
            code = exc.code if isinstance(exc, (ResolveError, ConnectFailed)) else host_errno(exc)
            self._rsp(f'\r\n#XUDPCLI: {code},"not connected"\r\n')
            return code
        sock.setblocking(False)
        with self._lock:
            self.sock, self.sock_handle = sock, handle
            self.local_port = sock.getsockname()[1]
            self.remote = peer_ip(sock.getpeername())
            self.role = "client"
            self.dtls = dtls
            self._start_worker()
        self._rsp(f'\r\n#XUDPCLI: {handle},"connected"\r\n')
        return 0

    def _start_worker(self) -> None:
        if self.worker is not None:  # a previous thread ended on its own: drop its leftovers
            self.modem.handles.free(self.efd_handle)
            self.efd_handle = -1
            self.worker.close()
        if self._profile.proxy_eventfd:
            self.efd_handle = self.modem.handles.alloc("udp-eventfd") or -1
        self.worker = Worker("slm-udp", self._loop)
        self.worker.start()

    def _close_proxy(self) -> int:
        """do_udp_proxy_close(): the thread prints the URC, then OK."""
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

    # -- AT#XUDPSEND -----------------------------------------------------------
    def at_send(self, cmd: AtCommand) -> int:
        if cmd.type is not CmdType.SET:
            return -zerrno.EINVAL
        if self.sock is None:
            return -zerrno.ENOTCONN
        datamode = cmd.param_count == 1
        data = b""
        if not datamode:
            first = cmd.params[0]
            if first.kind == "empty":
                datamode = True
            elif first.kind == "string" and first.text == "" and self._profile.empty_string_datamode:
                datamode = True
            else:
                data = cmd.string(1, SLM_MAX_PAYLOAD_SIZE).encode("latin-1")
            if self._profile.send_flags_param and cmd.param_count > 2:
                cmd.num(2)
        if datamode:
            return self.modem.datamode.enter(self)
        try:
            sent = self._send_datagram(data)
        except OSError as exc:
            return host_errno(exc)
        self._rsp(f"\r\n#XUDPSEND: {sent}\r\n")
        return 0

    def _send_datagram(self, data: bytes) -> int:
        sock = self.sock
        if sock is None:
            raise OSError(zerrno.ENOTCONN, "not connected")
        net_delay(self.modem.config.net_delay_ms)
        if self.role == "server":
            if self.remote is None:
                raise OSError(22, "no remote yet")  # sendto() a zeroed address fails
            return sock.sendto(data, self.remote)
        return sock.send(data)

    # -- data mode callbacks ---------------------------------------------------
    def datamode_send(self, data: bytes, more_data: bool) -> int:
        if more_data:
            # More than one buffer of data: it cannot be one datagram any more.
            self.modem.datamode.exit_unexpected(-zerrno.EOVERFLOW)
            return -zerrno.EOVERFLOW
        try:
            return self._send_datagram(data)
        except OSError:
            return -1

    def datamode_exit(self, unexpected: bool) -> None:
        if unexpected and self._profile.echo_quit_on_drop:
            self._rsp("+++")

    # -- lifecycle -------------------------------------------------------------
    def shutdown(self) -> None:
        worker = self.worker
        if worker is not None:
            worker.stopping = True
            worker.post(CLOSE)
            worker.join(3.0)
            worker.close()
        with self._lock:
            if self.sock is not None:
                self.sock.close()
            self._reset_state()

    def pending_rx(self) -> bool:
        sock = self.sock
        if sock is None:
            return False
        try:
            return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:
            return False

    # -- worker thread ---------------------------------------------------------
    def _header(self, size: int, sender: Tuple[str, int]) -> str:
        if not self._profile.udp_data_has_address:
            return f"\r\n#XUDPDATA: {size}\r\n"
        ip, port = ("::", 0) if self.dtls else sender  # a DTLS client reports "::",0
        return f'\r\n#XUDPDATA: {size},"{ip}",{port}\r\n'

    def _loop(self, worker: Worker) -> None:
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
                if "sock" in ready:
                    try:
                        data, addr = sock.recvfrom(_MAX_DATAGRAM)
                    except (BlockingIOError, InterruptedError):
                        data, addr = b"", None
                    except OSError:
                        # e.g. ICMP port unreachable on a connected socket: POLLERR.
                        result = -zerrno.EIO
                        break
                    if addr is not None:
                        # recvfrom into the 2048-byte slm_data_buf truncates longer datagrams.
                        data = data[:SLM_MAX_MESSAGE_SIZE]
                        sender = peer_ip(addr)
                        with self._lock:
                            self.remote = sender
                        net_delay(self.modem.config.net_delay_ms)
                        # Header and payload as one write (see TcpProxy._deliver).
                        header = self._header(len(data), sender).encode()
                        self.modem.datamode.downlink(data, header, self.modem.uart.write)
                if CLOSE in events:
                    result = 0
                    break
        finally:
            sel.close()
            with self._lock:
                sock.close()
                self.modem.handles.free(self.sock_handle)
                self.sock, self.sock_handle = None, -1
        if worker.stopping:
            return
        if self.modem.datamode.in_datamode():
            self.modem.datamode.exit_unexpected(result)
        elif self.role == "client":
            self._rsp(f'\r\n#XUDPCLI: {result},"disconnected"\r\n')
        else:
            self._rsp(f'\r\n#XUDPSVR: {result},"stopped"\r\n')
