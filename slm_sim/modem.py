"""One simulated nRF91 running SLM: the core that ties the pieces together.

Structure mirrors the firmware: bytes from the host go through the current
mode's handler (command line / data mode / drop), complete commands are
dispatched to one handler per command family (generic SLM commands, modem
commands, TCP proxy, UDP proxy), and everything towards the host goes through
the UART model. All host input, commands and timers run on one work thread.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from . import cmdline
from .atcmd import ModemReply, ParamError, parse
from .cmdline import CommandLine, Overflow
from .config import SimConfig
from .datamode import DataMode, Mode
from .faults import Faults
from .generic import Generic
from .handles import HandleTable
from .network import Network
from .profiles import Profile, get_profile
from .tcp_proxy import TcpProxy
from .uart import RX_CHUNK, HostPort, Uart
from .udp_proxy import UdpProxy
from .workqueue import Timer, WorkQueue

log = logging.getLogger("slm_sim")

READY = b"Ready\r\n"     # SLM_SYNC_STR: no leading CRLF
OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
_INTERLEAVE_WAIT = 0.02  # give a proxy thread with pending data time to slip its URC in


class Modem:
    """A modem bound to one host link. Create, then :meth:`start`; :meth:`close` ends it."""

    def __init__(self, port: HostPort, config: SimConfig, index: int = 0) -> None:
        config.validate()
        self.index = index
        self.config = config
        self.port = port
        seed = None if config.seed is None else config.seed + index
        self.faults = Faults(lambda: self.config, seed)
        self.uart = Uart(port, lambda: self.config, self.faults, self.request_reboot)
        self.wq = WorkQueue(f"slm-modem-{index}")
        self.handles = HandleTable()
        self.datamode = DataMode(self._send_text, lambda: self.config.baud)
        self.cmdline = CommandLine()
        self.network = Network(self)
        self.generic = Generic(self)
        self.tcp = TcpProxy(self)
        self.udp = UdpProxy(self)
        self.stopping = False     # a reboot or shutdown is tearing things down
        self.closed = False
        self.boots = 0
        self.rx_bytes = 0
        self.last_params: Optional[Dict[str, Any]] = None
        self._inactivity: Optional[Timer] = None
        self._rx_line_free = 0.0
        self._writes_in_command = 0
        self._closed_event = threading.Event()
        self._slm_commands: Dict[str, Callable[..., int]] = {
            **self.generic.commands(),
            "#XTCPSVR": self.tcp.at_server, "#XTCPCLI": self.tcp.at_client,
            "#XTCPSEND": self.tcp.at_send, "#XTCPHANGUP": self.tcp.at_hangup,
            "#XUDPSVR": self.udp.at_server, "#XUDPCLI": self.udp.at_client,
            "#XUDPSEND": self.udp.at_send,
        }
        self._modem_commands: Dict[str, Callable[..., ModemReply]] = self.network.commands()

    @property
    def profile(self) -> Profile:
        return get_profile(self.config.fw)

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Boot: the work thread sends the banner, then serves the host."""
        self.wq.set_reader(self.port.fileno(), self._on_readable)
        self.wq.post(self._first_boot)
        self.wq.start()

    def _first_boot(self) -> None:
        # The CLI's --reboot-after-* flags arm once, for the first boot only.
        if self.config.reboot_after_tx is not None:
            self.faults.arm_reboot_after_tx(self.config.reboot_after_tx)
        if self.config.reboot_after_rx is not None:
            self.faults.arm_reboot_after_rx(self.config.reboot_after_rx)
        self._banner()

    def _banner(self) -> None:
        self.boots += 1
        if self.config.garbage_before_ready:
            self.uart.write(self.faults.garbage())
        self.uart.write(READY)
        log.info("modem %d: booted (%s, boot #%d)", self.index, self.profile.name, self.boots)

    def request_reboot(self) -> None:
        """Reboot as soon as possible (any thread); output stops right away."""
        self.uart.mute()
        self.wq.post(self.reboot_now)

    def reboot_now(self) -> None:
        """Cold reboot on the work thread: proxies dropped, state reset, "Ready"."""
        if self.closed:
            return
        log.info("modem %d: reboot", self.index)
        self.stopping = True
        self.uart.mute()
        self._teardown_state()
        self._discard_input()
        time.sleep(max(0, self.config.boot_delay_ms) / 1000.0)
        self.stopping = False
        self.uart.unmute()
        self._banner()

    def _teardown_state(self) -> None:
        self.tcp.shutdown()
        self.udp.shutdown()
        if self._inactivity is not None:
            self._inactivity.cancel()
            self._inactivity = None
        self.wq.cancel_all_timers()
        self.datamode.reset()
        self.cmdline.reset()
        self.network.reset()
        self.handles.reset()

    def _discard_input(self) -> None:
        # Bytes the host sent while the device was resetting are lost.
        for _ in range(1024):
            if not self.port.read(65536):
                return

    def close(self) -> None:
        """Power off for good (host gone or simulator closing). Any thread."""
        if self.closed:
            return
        self.closed = True
        self.stopping = True
        self.uart.mute()
        self.uart.close()
        if self.wq.in_thread():
            self._final_teardown()
        elif self.wq.thread.is_alive():
            self.wq.post(self._final_teardown)
            self._closed_event.wait(5.0)
        else:
            self._final_teardown()
        self.wq.stop(join=not self.wq.in_thread())

    def _final_teardown(self) -> None:
        try:
            self._teardown_state()
        finally:
            self.port.close()
            self._closed_event.set()

    # -- output ------------------------------------------------------------------
    def rsp_send(self, text: str) -> bool:
        """One response/URC write (the firmware's rsp_send)."""
        if self.wq.in_thread():
            self._writes_in_command += 1
        return self.uart.write(text.encode("latin-1"))

    def _send_text(self, text: str) -> None:
        self.rsp_send(text)

    def modem_urc(self, text: str) -> None:
        """A notification from the modem: forwarded only in command mode."""
        if self.datamode.mode is not Mode.COMMAND:
            return
        # The firmware writes "\r\n" and the notification separately; one write here.
        self.uart.write(b"\r\n" + text.encode("latin-1") + b"\r\n")

    def record_params(self, params: Dict[str, Any]) -> None:
        """Remember the validated parameters of the last proxy command (TLS knobs etc.)."""
        self.last_params = dict(params)
        log.info("modem %d: %s", self.index, json.dumps(params, sort_keys=True))

    # -- input -------------------------------------------------------------------
    def _on_readable(self) -> None:
        data = self.port.read(RX_CHUNK)
        if data is None:
            return
        if data == b"":
            log.info("modem %d: host closed the link", self.index)
            self.close()
            return
        self.rx_bytes += len(data)
        log.debug("modem %d: rx %r", self.index, data[:64])
        data, reboot = self.faults.take_rx(data)
        self.receive(data)
        if reboot:
            self.request_reboot()
            return
        baud = self.config.baud
        if baud:
            # The next chunk cannot arrive faster than the line carries it.
            now = time.monotonic()
            self._rx_line_free = max(self._rx_line_free, now) + len(data) * 10.0 / baud
            self.wq.pause_reader(self._rx_line_free)

    def receive(self, chunk: bytes) -> None:
        """slm_at_receive(): feed one UART chunk through the mode handlers."""
        if self._inactivity is not None:
            self._inactivity.cancel()
            self._inactivity = None
        while chunk and not self.stopping:
            mode = self.datamode.mode
            if mode is Mode.COMMAND:
                used = self._command_rx(chunk)
            elif mode is Mode.DATA:
                used = self.datamode.receive_data(chunk)
            else:
                used = self.datamode.receive_drop(chunk)
            chunk = chunk[used:]
        if self.datamode.mode is Mode.DATA and not self.stopping:
            # The inactivity timer restarts with every received chunk.
            self._inactivity = self.wq.schedule(self.datamode.time_limit / 1000.0,
                                                self.datamode.on_inactivity)

    def _command_rx(self, chunk: bytes) -> int:
        used, event = self.cmdline.feed(chunk)
        if isinstance(event, Overflow):
            self.uart.write(ERROR)
        elif event is not None:
            self._execute(event)
        return used

    # -- dispatch ------------------------------------------------------------------
    def _execute(self, line: bytes) -> None:
        """cmd_send(): garbage skip, grammar check, then the command's family handler."""
        checked = cmdline.prepare(line)
        if checked is None:
            self.uart.write(ERROR)
            return
        try:
            cmd = parse(checked)
        except ParamError:
            self.uart.write(ERROR)
            return
        log.debug("modem %d: command %r", self.index, cmd.text)
        slm_handler = self._slm_commands.get(cmd.name)
        if slm_handler is not None:
            self._writes_in_command = 0
            try:
                err = slm_handler(cmd)
            except ParamError as exc:
                err = -exc.err
            if err == 0:
                if self.config.interleave_urcs and self._writes_in_command:
                    self._interleave_urc()
                self.uart.write(OK)
            elif err < 0:
                self.uart.write(ERROR)
            else:
                self.uart.write(f"\r\n+CME ERROR: {err}\r\n".encode())
            self.datamode.entry_done()  # a send command's OK is out: downlink may flow
            return
        modem_handler = self._modem_commands.get(cmd.name)
        if modem_handler is None:
            self.uart.write(ERROR)  # the modem does not know the command either
            return
        self.uart.write(modem_handler(cmd).encode())

    def _interleave_urc(self) -> None:
        """Fault switch: let a URC land between an information line and its OK."""
        urc = self.network.cereg_urc_text()
        if urc is not None:
            self.modem_urc(urc)
        if self.tcp.pending_rx() or self.udp.pending_rx():
            time.sleep(_INTERLEAVE_WAIT)

    def slm_command_names(self) -> List[str]:
        return list(self._slm_commands)

    # -- control-port helpers ----------------------------------------------------
    def run_on_thread(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the work thread (serialised with commands)."""
        self.wq.post(fn)

    def status(self) -> Dict[str, Any]:
        return {
            "index": self.index, "fw": self.profile.name, "boots": self.boots,
            "closed": self.closed, "mode": self.datamode.mode.value,
            "datactrl": {"time_limit": self.datamode.time_limit,
                         "min": self.datamode.min_time_limit(),
                         "buffered": self.datamode.buffered()},
            "cfun": self.network.cfun, "cereg": {"n": self.network.cereg_n,
                                                 "stat": self.network.stat},
            "attached": self.network.attached,
            "tcp": self.tcp.status(), "udp": self.udp.status(),
            "handles": {str(k): v for k, v in self.handles.snapshot().items()},
            "last_params": self.last_params,
            "tx_bytes": self.uart.tx_bytes, "rx_bytes": self.rx_bytes,
            "faults": self.faults.status(), "config": self.config.as_dict(),
        }
