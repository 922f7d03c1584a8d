"""The cellular side of the modem: functional mode, LTE registration, modem AT commands.

SLM passes ``+``/``%`` commands to the modem firmware; the ones modelled here
are the few a host driver needs (AT, +CFUN, +CEREG, +CGSN, %XSYSTEMMODE and
the identification commands). ``AT+CFUN=1`` starts searching (``+CEREG: 2``)
and registers after ``attach_delay_ms`` (``+CEREG: 1,...``). Registration can
also be changed at runtime through the control port (``cereg <stat>``).
Modem URCs reach the host only in command mode (dropped in data mode).
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Dict, Optional

from .atcmd import AtCommand, CmdType, ModemReply, error_reply
from .workqueue import Timer

if TYPE_CHECKING:
    from .modem import Modem

REGISTERED = (1, 5)          # home / roaming
CEREG_STATS = (0, 1, 2, 3, 4, 5, 90)
CFUN_MODES = (0, 1, 4, 20, 21, 30, 31, 40, 41, 44)
TAC = "1285"                 # from the CEREG example in the SLM docs
CELL_ID = "02EF8210"
ACT_LTE_M = 7
PSM_TIMERS = '"11100000","11100000"'


class Network:
    """CFUN / CEREG state and the modem commands that read or change it."""

    def __init__(self, modem: "Modem") -> None:
        self.modem = modem
        self._lock = threading.Lock()
        self._attach_timer: Optional[Timer] = None
        self.reset()

    def reset(self) -> None:
        """Boot state: CFUN=0, not registered, CEREG reporting off."""
        if self._attach_timer is not None:
            self._attach_timer.cancel()
        self._attach_timer = None
        self.cfun = 0
        self.stat = 0
        self.cereg_n = 0
        self.system_mode = (1, 0, 1, 0)  # LTE-M + GNSS, no preference

    @property
    def attached(self) -> bool:
        """CFUN=1 and registered: proxies can reach the (loopback) network."""
        return self.cfun == 1 and self.stat in REGISTERED

    def commands(self) -> Dict[str, Callable[[AtCommand], ModemReply]]:
        return {
            "": self.at_plain, "+CFUN": self.at_cfun, "+CEREG": self.at_cereg,
            "+CGSN": self.at_cgsn, "%XSYSTEMMODE": self.at_systemmode,
            "+CGMI": lambda cmd: self._ident(cmd, "Nordic Semiconductor ASA"),
            "+CGMM": lambda cmd: self._ident(cmd, "nRF9160-SICA"),
            "+CGMR": lambda cmd: self._ident(cmd, "mfw_nrf9160_1.3.6"),
        }

    # -- registration -------------------------------------------------------
    def set_stat(self, stat: int, later: bool = False) -> None:
        """Change the registration status and report it with +CEREG (if enabled).

        ``later`` defers the URC until the running command has sent its OK, as
        the modem's own notification would arrive after the command response.
        """
        self.stat = stat
        if later:
            self.modem.wq.post(lambda: self._report(stat))
        else:
            self._report(stat)

    def _report(self, stat: int) -> None:
        if self.stat == stat and self.cereg_n:
            self.modem.modem_urc(self._cereg_tail(with_n=False))

    def _cereg_tail(self, with_n: bool) -> str:
        fields = [str(self.stat)]
        if self.cereg_n >= 2 and self.stat in REGISTERED:
            fields.append(f'"{TAC}","{CELL_ID}",{ACT_LTE_M}')
            if self.cereg_n >= 4:
                fields.append(f",,{PSM_TIMERS}")
        if with_n:
            fields.insert(0, str(self.cereg_n))
        return "+CEREG: " + ",".join(fields)

    def cereg_urc_text(self) -> Optional[str]:
        """The +CEREG URC for the current state, or None if reporting is off."""
        return self._cereg_tail(with_n=False) if self.cereg_n else None

    def _attach_done(self) -> None:
        self._attach_timer = None
        if self.cfun == 1 and self.stat not in REGISTERED:
            self.set_stat(1)

    # -- AT commands ---------------------------------------------------------
    def at_plain(self, cmd: AtCommand) -> ModemReply:
        return ModemReply()

    def at_cfun(self, cmd: AtCommand) -> ModemReply:
        if cmd.type is CmdType.READ:
            return ModemReply([f"+CFUN: {self.cfun}"])
        if cmd.type is CmdType.TEST:
            return ModemReply(["+CFUN: (0,1,4,20,21,30,31,40,41,44)"])
        if cmd.param_count != 2 or cmd.params[0].kind != "number":
            return error_reply()
        mode = int(cmd.params[0].text)
        if mode not in CFUN_MODES:
            return error_reply()
        # 21 switches LTE on, 20 off; the other sub-modes (SIM, GNSS) leave LTE as it is.
        if mode in (1, 21):
            self._go_online()
        elif mode in (0, 4, 20):
            self._go_offline(mode if mode != 20 else 4)
        return ModemReply()

    def _go_online(self) -> None:
        if self.cfun == 1:
            return
        self.cfun = 1
        self.set_stat(2, later=True)  # searching
        delay = max(0, self.modem.config.attach_delay_ms) / 1000.0
        self._attach_timer = self.modem.wq.schedule(delay, self._attach_done)

    def _go_offline(self, mode: int) -> None:
        if self._attach_timer is not None:
            self._attach_timer.cancel()
            self._attach_timer = None
        was = self.stat
        self.cfun = mode
        if was != 0:
            self.set_stat(0, later=True)

    def at_cereg(self, cmd: AtCommand) -> ModemReply:
        if cmd.type is CmdType.READ:
            return ModemReply([self._cereg_tail(with_n=True)])
        if cmd.type is CmdType.TEST:
            return ModemReply(["+CEREG: (0-5)"])
        if cmd.param_count != 2 or cmd.params[0].kind != "number":
            return error_reply()
        n = int(cmd.params[0].text)
        if not 0 <= n <= 5:
            return error_reply()
        self.cereg_n = n
        return ModemReply()

    def at_cgsn(self, cmd: AtCommand) -> ModemReply:
        imei = self.modem.config.imei
        if cmd.type is CmdType.TEST:
            return ModemReply(["+CGSN: (0-3)"])
        if cmd.type is CmdType.READ:
            return error_reply()
        if cmd.param_count == 1:
            return ModemReply([imei])
        if cmd.params[0].kind != "number" or cmd.param_count != 2:
            return error_reply()
        form = int(cmd.params[0].text)
        if form == 0:
            return ModemReply([imei])
        if form == 1:
            return ModemReply([f'+CGSN: "{imei}"'])
        return error_reply()

    def at_systemmode(self, cmd: AtCommand) -> ModemReply:
        if cmd.type is CmdType.READ:
            return ModemReply(["%XSYSTEMMODE: " + ",".join(map(str, self.system_mode))])
        if cmd.type is CmdType.TEST:
            return ModemReply(["%XSYSTEMMODE: (0,1),(0,1),(0,1),(0,1,2,3,4)"])
        if cmd.param_count != 5 or any(p.kind != "number" for p in cmd.params):
            return error_reply()
        values = tuple(int(p.text) for p in cmd.params)
        if any(v not in (0, 1) for v in values[:3]) or not 0 <= values[3] <= 4:
            return error_reply()
        if self.cfun not in (0, 4):
            return error_reply()  # the modem only takes this while the radio is off
        self.system_mode = values  # type: ignore[assignment]
        return ModemReply()

    def _ident(self, cmd: AtCommand, text: str) -> ModemReply:
        if cmd.type is not CmdType.SET or cmd.param_count != 1:
            return error_reply()
        return ModemReply([text])
