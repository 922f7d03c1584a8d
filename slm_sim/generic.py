"""SLM's own generic commands: #XSLMVER, #XRESET, #XDATACTRL, #XGETADDRINFO, #XCLAC.

Handlers write their information lines themselves and return 0 (-> OK) or a
negative errno (-> ERROR), like the firmware's SLM_AT_CMD_CUSTOM handlers.
"""
from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Callable, Dict

from . import zerrno
from .atcmd import AtCommand, CmdType
from .proxy import SLM_MAX_URL, ResolveError, resolve

if TYPE_CHECKING:
    from .modem import Modem

RESET_DELAY = 0.05  # SLM_UART_RESPONSE_DELAY: OK goes out, then the reboot
_FAMILIES = {0: socket.AF_UNSPEC, 1: socket.AF_INET, 2: socket.AF_INET6}


class Generic:
    """Handlers of the generic SLM commands of one modem."""

    def __init__(self, modem: "Modem") -> None:
        self.modem = modem

    def commands(self) -> Dict[str, Callable[[AtCommand], int]]:
        return {
            "#XSLMVER": self.at_slmver, "#XRESET": self.at_reset,
            "#XDATACTRL": self.at_datactrl, "#XGETADDRINFO": self.at_getaddrinfo,
            "#XCLAC": self.at_clac,
        }

    def at_slmver(self, cmd: AtCommand) -> int:
        if cmd.type is not CmdType.SET:
            return -zerrno.EINVAL
        profile = self.modem.profile
        self.modem.rsp_send(
            f'\r\n#XSLMVER: "{profile.ncs_version}","{profile.libmodem_version}"\r\n')
        return 0

    def at_reset(self, cmd: AtCommand) -> int:
        if cmd.type is not CmdType.SET:
            return -zerrno.EINVAL
        self.modem.wq.schedule(RESET_DELAY, self.modem.reboot_now)
        return 0

    def at_datactrl(self, cmd: AtCommand) -> int:
        datamode = self.modem.datamode
        minimum = datamode.min_time_limit()
        if cmd.type is CmdType.READ:
            self.modem.rsp_send(f"\r\n#XDATACTRL: {datamode.time_limit},{minimum}\r\n")
            return 0
        if cmd.type is CmdType.TEST:
            self.modem.rsp_send("\r\n#XDATACTRL=<time_limit>\r\n")
            return 0
        limit = cmd.num(1, 0, 65535)
        if limit == 0 or limit < minimum:
            return -zerrno.EINVAL
        datamode.time_limit = limit
        return 0

    def at_getaddrinfo(self, cmd: AtCommand) -> int:
        if cmd.type is not CmdType.SET:
            return -zerrno.EINVAL
        host = cmd.string(1, SLM_MAX_URL - 1)
        if cmd.param_count == 3:
            family_num = cmd.num(2)
            if family_num not in _FAMILIES:
                return -zerrno.EINVAL
            family = _FAMILIES[family_num]
        elif cmd.param_count == 2:
            family = socket.AF_UNSPEC
        else:
            return -zerrno.EINVAL
        try:
            if not self.modem.network.attached:
                raise ResolveError(zerrno.DNS_EAI_AGAIN)  # no network, no DNS
            addresses = resolve(host, family)
        except ResolveError as exc:
            self.modem.rsp_send(f'\r\n#XGETADDRINFO: "{zerrno.gai_strerror(exc.code)}"\r\n')
            return exc.code
        # Firmware bug reproduced: every entry prints the FIRST result's address.
        text = " ".join(addresses[0] for _ in addresses)
        self.modem.rsp_send(f'\r\n#XGETADDRINFO: "{text}"\r\n')
        return 0

    def at_clac(self, cmd: AtCommand) -> int:
        if cmd.type is not CmdType.SET:
            return -zerrno.EINVAL
        names = sorted(name for name in self.modem.slm_command_names() if name.startswith("#X"))
        self.modem.rsp_send("\r\n")
        for name in names:
            self.modem.rsp_send(f"AT{name}\r\n")
        return 0
