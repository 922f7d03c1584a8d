"""Fault injection (switches, control-port commands) and the UART model:
pacing, fragmentation, flow control, reboots at a chosen byte."""
from __future__ import annotations

import os
import socket
import threading
import time


from test_sim_support import OK, READY, make_sim, peers, wait_for  # noqa: F401
from slm_sim.config import SimConfig
from slm_sim.faults import Faults
from slm_sim.uart import HostPort, Uart


class RecordingPort(HostPort):
    """Captures every write the UART makes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def fileno(self) -> int:
        return -1

    def write(self, data: memoryview) -> int:
        self.writes.append(bytes(data))
        return len(data)

    def close(self) -> None:
        pass


def make_uart(**options) -> tuple[Uart, RecordingPort]:
    config = SimConfig(**options)
    port = RecordingPort()
    uart = Uart(port, lambda: config, Faults(lambda: config, seed=1), lambda: None)
    return uart, port


def test_fragmentation_splits_writes_but_keeps_bytes():
    uart, port = make_uart(baud=0, fragment=4)
    data = bytes(range(256)) * 4
    assert uart.write(data)
    assert b"".join(port.writes) == data
    assert max(len(w) for w in port.writes) <= 4
    assert len(port.writes) >= len(data) // 4


def test_unfragmented_unpaced_write_is_one_piece():
    uart, port = make_uart(baud=0)
    assert uart.write(b"x" * 5000)
    assert port.writes == [b"x" * 5000]


def test_output_is_paced_at_the_baud_rate():
    uart, port = make_uart(baud=115200)
    started = time.monotonic()
    uart.write(b"y" * 2304)  # 2304 bytes * 10 bits / 115200 = 0.2 s
    elapsed = time.monotonic() - started
    assert 0.18 <= elapsed < 0.6
    assert max(len(w) for w in port.writes) < 100  # several pieces, like a UART


def test_paced_modem_output_timing(make_sim):
    sim = make_sim(baud=115200)
    host = make_sim.connect(sim)
    started = time.monotonic()
    assert host.at("AT#XCLAC").endswith(OK)  # a few hundred bytes of output
    assert time.monotonic() - started > 0.01


def test_input_is_paced_too(make_sim):
    sim = make_sim(baud=115200)
    host = make_sim.connect(sim)
    modem = sim.modem
    before = modem.rx_bytes
    started = time.monotonic()
    # 2560 bytes of garbage in front of "AT" (skipped): 2564 bytes at 11.5 kB/s ~ 0.22 s.
    host.send(b"x" * 2560 + b"AT\r\n")
    assert host.read_final(timeout=5) == OK
    assert time.monotonic() - started >= 0.18
    assert modem.rx_bytes - before == 2564


def test_host_that_does_not_read_blocks_the_proxy(make_sim):
    host = make_sim.host()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        reply = host.at(f'AT#XTCPCLI=1,"127.0.0.1",{listener.getsockname()[1]}')
        assert reply == b'\r\n#XTCPCLI: 0,"connected"\r\n' + OK
        peer, _ = listener.accept()
    modem = host.sim.modem
    blob = os.urandom(600_000)
    writer = threading.Thread(target=peer.sendall, args=(blob,), daemon=True)
    writer.start()
    # The host reads nothing: once a few KiB are in flight the UART blocks ...
    wait_for(lambda: modem.uart.tx_bytes > 4000, what="UART output")
    stalled = modem.uart.tx_bytes
    time.sleep(0.2)
    assert modem.uart.tx_bytes == stalled < 64 * 1024
    # ... and the proxy stopped reading: the rest waits in the network socket.
    assert modem.tcp.pending_rx()
    lines, payload = host.collect(len(blob), timeout=20)
    assert lines == b"" and payload == blob
    writer.join(5)
    peer.close()


def test_garbage_before_ready(make_sim):
    sim = make_sim(garbage_before_ready=True, seed=3)
    host = make_sim.connect(sim, banner=False)
    prefix = host.read_until(READY)[:-len(READY)]
    assert 1 <= len(prefix) <= 3
    assert set(prefix) <= {0xC0, 0xFF, 0x00, 0xF8, 0xE0}
    host.send("AT#XRESET\r\n")
    host.read_until(OK)
    prefix = host.read_until(READY)[:-len(READY)]
    assert 1 <= len(prefix) <= 3


def test_drop_and_corrupt_rates_are_seeded(make_sim):
    outputs = []
    for _ in range(2):
        sim = make_sim(corrupt_rate=0.3, drop_rate=0.1, seed=42)
        host = make_sim.connect(sim, banner=False)
        host.send("AT+CFUN?\r\nAT#XSLMVER\r\n")
        outputs.append(host.drain(quiet=0.2))
    assert outputs[0] == outputs[1]
    clean = READY + b"\r\n+CFUN: 0\r\n\r\nOK\r\n"
    assert outputs[0][:len(clean)] != clean


def test_total_drop_rate_loses_everything(make_sim):
    sim = make_sim(drop_rate=1.0)
    host = make_sim.connect(sim, banner=False)
    host.send("AT\r\n")
    assert host.drain(quiet=0.2) == b""


def test_control_corrupt_bytes_exact(make_sim):
    host = make_sim.host(attached=False)
    assert host.sim.control("corrupt-bytes 1") == "ok"
    host.send("AT\r\n")
    got = host.read_exact(6)
    assert got[0] != 0x0D and got[1:] == b"\nOK\r\n"
    assert host.at("AT") == OK


def test_control_drop_bytes_exact(make_sim):
    host = make_sim.host(attached=False)
    assert host.sim.control("drop-bytes 2") == "ok"
    host.send("AT\r\n")
    host.expect(b"OK\r\n")
    assert host.drain() == b""


def test_stall_delays_output(make_sim):
    host = make_sim.host(attached=False)
    assert host.sim.control("stall 300") == "ok"
    started = time.monotonic()
    assert host.at("AT") == OK
    assert time.monotonic() - started >= 0.25


def test_reboot_now(make_sim, peers):
    host = make_sim.host()
    assert host.sim.control("reboot") == "ok"
    host.expect(READY)
    assert host.at("AT+CFUN?") == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"
    assert host.sim.modem.boots == 2


def test_reboot_after_tx_mid_receive(make_sim):
    host = make_sim.host()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        reply = host.at(f'AT#XTCPCLI=1,"127.0.0.1",{listener.getsockname()[1]}')
        assert reply.endswith(OK)
        peer, _ = listener.accept()
        assert host.sim.control("reboot-after-tx 25") == "ok"
        peer.sendall(b"z" * 100)
        # 25 bytes of the frame make it out, then the device resets.
        host.expect((b"\r\n#XTCPDATA: 100\r\n" + b"z" * 100)[:25] + READY)
        assert peer.recv(10) == b""  # the proxy connection died with the reboot
        peer.close()
    assert host.at("AT#XTCPCLI?") == b"\r\n#XTCPCLI: -1,0\r\n\r\nOK\r\n"


def test_reboot_after_rx_mid_send(make_sim):
    host = make_sim.host()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        assert host.at(f'AT#XTCPCLI=1,"127.0.0.1",{listener.getsockname()[1]}').endswith(OK)
        peer, _ = listener.accept()
        assert host.at("AT#XDATACTRL=2000") == OK
        assert host.at("AT#XTCPSEND") == OK
        assert host.sim.control("reboot-after-rx 10") == "ok"
        host.send(b"d" * 100)
        host.expect(READY)
        peer.settimeout(3)
        assert peer.recv(200) == b""  # buffered data was lost, connection gone
        peer.close()
    assert host.at("AT") == OK


def test_reboot_flags_arm_once(make_sim):
    sim = make_sim(reboot_after_tx=3)
    host = make_sim.connect(sim, banner=False)
    host.expect(b"Rea" + READY)
    assert host.at("AT") == OK
    assert sim.modem.boots == 2


def test_control_urc_and_cereg(make_sim):
    host = make_sim.host(attached=False)
    assert host.sim.control("urc #XMODEM: FAULT,0x1,0x2") == "ok"
    host.expect(b"\r\n#XMODEM: FAULT,0x1,0x2\r\n")
    assert host.at("AT+CEREG=1") == OK
    assert host.sim.control("cereg 3") == "ok"
    host.expect(b"\r\n+CEREG: 3\r\n")
    assert host.sim.control("cereg 7").startswith("error")


def test_control_set_and_errors(make_sim):
    host = make_sim.host(attached=False)
    sim = host.sim
    assert sim.control("set fragment 3") == "ok"
    assert sim.modem.config.fragment == 3
    assert host.at("AT+CFUN?") == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"
    assert sim.control("set interleave-urcs on") == "ok"
    assert sim.control("set no-such-option 1").startswith("error ")
    assert sim.control("set drop-rate 7").startswith("error ")
    assert sim.control("bogus").startswith("error ")
    assert sim.control("drop-bytes x").startswith("error ")
    assert sim.control("modem 9 reboot").startswith("error ")
    assert sim.control("list") == "ok 0"
    assert sim.control("status").startswith('ok {"')


def test_interleave_urcs_between_info_and_ok(make_sim):
    host = make_sim.host(interleave_urcs=True)
    assert host.at("AT+CEREG=1") == OK
    reply = host.at("AT#XTCPCLI?")
    assert reply == b"\r\n#XTCPCLI: -1,0\r\n\r\n+CEREG: 1\r\n\r\nOK\r\n"
    # Modem commands come from the modem as one buffer: never split.
    assert host.at("AT+CFUN?") == b"\r\n+CFUN: 1\r\n\r\nOK\r\n"


def test_slow_network(make_sim, peers):
    host = make_sim.host(net_delay_ms=150)
    port = peers.env["SLM_ECHO_TCP_PORT"]
    assert host.at(f'AT#XTCPCLI=1,"127.0.0.1",{port}').endswith(OK)
    started = time.monotonic()
    lines, payload = host.at_data('AT#XTCPSEND="slow"', 4)
    assert payload == b"slow"
    assert time.monotonic() - started >= 0.28  # delayed on the way out and back
