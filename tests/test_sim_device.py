"""Device and generic commands (§5, §1.3): CFUN/CEREG, version, reset, IMEI, system mode,
#XDATACTRL, #XGETADDRINFO — on both firmware profiles."""
from __future__ import annotations

import pytest

from test_sim_support import ERROR, OK, READY, FWS, attach, make_sim  # noqa: F401

CEREG_REGISTERED = b'\r\n+CEREG: 1,"1285","02EF8210",7\r\n'


@pytest.fixture(params=FWS)
def fw(request):
    return request.param


def test_boots_in_cfun0_not_registered(make_sim, fw):
    host = make_sim.host(fw=fw, attached=False)
    assert host.at("AT+CFUN?") == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"
    assert host.at("AT+CEREG?") == b"\r\n+CEREG: 0,0\r\n\r\nOK\r\n"
    assert host.at("AT+CFUN=?") == b"\r\n+CFUN: (0,1,4,20,21,30,31,40,41,44)\r\n\r\nOK\r\n"
    assert host.at("AT+CEREG=?") == b"\r\n+CEREG: (0-5)\r\n\r\nOK\r\n"


def test_cfun1_attaches_with_cereg_urcs(make_sim, fw):
    host = make_sim.host(fw=fw, attached=False)
    assert host.at("AT+CEREG=2") == OK
    # OK first, then the modem's notifications: searching, then registered (§5.5).
    assert host.at("AT+CFUN=1") == OK
    host.expect(b"\r\n+CEREG: 2\r\n")
    host.expect(CEREG_REGISTERED)
    assert host.at("AT+CEREG?") == b'\r\n+CEREG: 2,1,"1285","02EF8210",7\r\n\r\nOK\r\n'
    assert host.at("AT+CFUN?") == b"\r\n+CFUN: 1\r\n\r\nOK\r\n"
    assert host.at("AT+CFUN=4") == OK
    host.expect(b"\r\n+CEREG: 0\r\n")
    assert host.at("AT+CEREG?") == b"\r\n+CEREG: 2,0\r\n\r\nOK\r\n"


def test_cereg_reporting_levels(make_sim):
    host = make_sim.host(attached=False)
    assert host.at("AT+CEREG=0") == OK
    assert host.at("AT+CFUN=1") == OK
    assert host.drain(quiet=0.1) == b""  # n=0: no URCs at all
    assert host.at("AT+CEREG?") == b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n"
    assert host.at("AT+CEREG=5") == OK
    assert host.at("AT+CEREG?") == (b'\r\n+CEREG: 5,1,"1285","02EF8210",7,,,"11100000","11100000"\r\n'
                                    b"\r\nOK\r\n")
    assert host.at("AT+CEREG=6") == ERROR
    assert host.at("AT+CFUN=7") == ERROR


def test_cereg_urcs_follow_runtime_registration_changes(make_sim):
    host = make_sim.host(attached=False)
    attach(host, cereg=1)
    assert host.sim.control("cereg 2") == "ok"
    host.expect(b"\r\n+CEREG: 2\r\n")
    assert host.sim.control("cereg 5") == "ok"
    host.expect(b"\r\n+CEREG: 5\r\n")


def test_slmver_reflects_profile(make_sim, fw):
    host = make_sim.host(fw=fw, attached=False)
    expected = {"2.6": b'"2.6.0","2.6.0-lte-sim"', "3.1": b'"3.1.0","2.8.0-lte-sim"'}[fw]
    assert host.at("AT#XSLMVER") == b"\r\n#XSLMVER: " + expected + b"\r\n\r\nOK\r\n"
    assert host.at("AT#XSLMVER?") == ERROR
    assert host.at("AT#XSLMVER=?") == ERROR


def test_cgsn_and_identification(make_sim):
    host = make_sim.host(attached=False)
    assert host.at("AT+CGSN") == b"\r\n352656100367872\r\n\r\nOK\r\n"
    assert host.at("AT+CGSN=1") == b'\r\n+CGSN: "352656100367872"\r\n\r\nOK\r\n'
    assert host.at("AT+CGMI") == b"\r\nNordic Semiconductor ASA\r\n\r\nOK\r\n"


def test_systemmode_only_while_radio_off(make_sim):
    host = make_sim.host(attached=False)
    assert host.at("AT%XSYSTEMMODE=1,1,0,0") == OK
    assert host.at("AT%XSYSTEMMODE?") == b"\r\n%XSYSTEMMODE: 1,1,0,0\r\n\r\nOK\r\n"
    attach(host)
    assert host.at("AT%XSYSTEMMODE=1,0,0,0") == ERROR
    assert host.at("AT+CFUN=4") == OK
    assert host.at("AT%XSYSTEMMODE=1,0,0,0") == OK
    assert host.at("AT%XSYSTEMMODE=2,0,0,0") == ERROR


def test_reset_sends_ok_then_ready_and_forgets_state(make_sim, fw):
    host = make_sim.host(fw=fw)
    assert host.at("AT+CFUN?") == b"\r\n+CFUN: 1\r\n\r\nOK\r\n"
    host.send("AT#XRESET\r\n")
    host.expect(OK + READY)
    assert host.at("AT+CFUN?") == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"


def test_datactrl_forms(make_sim, fw):
    host = make_sim.host(fw=fw, attached=False)
    # baud 0 (unpaced) uses the 1 Mbaud minimum: 256*10*1000/1e6 + 10 = 12 ms.
    assert host.at("AT#XDATACTRL?") == b"\r\n#XDATACTRL: 0,12\r\n\r\nOK\r\n"
    assert host.at("AT#XDATACTRL=?") == b"\r\n#XDATACTRL=<time_limit>\r\n\r\nOK\r\n"
    assert host.at("AT#XDATACTRL=11") == ERROR
    assert host.at("AT#XDATACTRL=0") == ERROR
    assert host.at("AT#XDATACTRL=500") == OK
    assert host.at("AT#XDATACTRL?") == b"\r\n#XDATACTRL: 500,12\r\n\r\nOK\r\n"


def test_datactrl_minimum_follows_baud(make_sim):
    sim = make_sim(baud=115200)
    host = make_sim.connect(sim)
    # 256*10*1000/115200 + 10 = 32 ms (§4.2).
    assert host.at("AT#XDATACTRL?") == b"\r\n#XDATACTRL: 0,32\r\n\r\nOK\r\n"
    assert host.at("AT#XDATACTRL=31") == ERROR
    assert host.at("AT#XDATACTRL=32") == OK


def test_getaddrinfo(make_sim, fw):
    host = make_sim.host(fw=fw)
    assert host.at('AT#XGETADDRINFO="localhost"') == b'\r\n#XGETADDRINFO: "127.0.0.1"\r\n\r\nOK\r\n'
    assert host.at('AT#XGETADDRINFO="localhost",1') == b'\r\n#XGETADDRINFO: "127.0.0.1"\r\n\r\nOK\r\n'
    assert host.at('AT#XGETADDRINFO="localhost",2') == b'\r\n#XGETADDRINFO: "::1"\r\n\r\nOK\r\n'
    assert host.at('AT#XGETADDRINFO="::1"') == b'\r\n#XGETADDRINFO: "::1"\r\n\r\nOK\r\n'
    assert host.at('AT#XGETADDRINFO="no.such.host.invalid"') == (
        b'\r\n#XGETADDRINFO: "NAME or SERVICE is unknown"\r\n' + ERROR)
    assert host.at('AT#XGETADDRINFO="localhost",3') == ERROR
    assert host.at("AT#XGETADDRINFO=localhost") == ERROR  # strings must be quoted
    assert host.at("AT#XGETADDRINFO?") == ERROR


def test_getaddrinfo_needs_network(make_sim):
    host = make_sim.host(attached=False)
    assert host.at('AT#XGETADDRINFO="localhost"') == (
        b'\r\n#XGETADDRINFO: "Temporary failure in name resolution"\r\n' + ERROR)


def test_clac_lists_slm_commands(make_sim):
    host = make_sim.host(attached=False)
    reply = host.at("AT#XCLAC")
    assert reply.startswith(b"\r\nAT#X")
    assert b"AT#XTCPCLI\r\n" in reply and b"AT#XUDPSEND\r\n" in reply
    assert reply.endswith(b"\r\n" + OK)
