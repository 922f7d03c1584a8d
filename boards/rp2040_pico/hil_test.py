# Hardware-in-the-loop check: a Raspberry Pi Pico wired to an nRF9160 DK running Serial LTE
# Modem firmware, exactly as README.md beside this file shows.
#
#     mpremote mip install github:<org>/<repo>         # the driver, once
#     (edit ECHO_HOST below, or keep a copy with your values)
#     mpremote run boards/rp2040_pico/hil_test.py
#
# It checks, printing one line each: the modem answers on UART1, the SLM version, LTE attach,
# a TCP echo (text and 2 KiB of binary through data mode) and a UDP echo, against echo
# servers you run on a host the LTE network can reach (TCP and UDP, both answering with
# what they receive: e.g. `socat TCP-LISTEN:7,fork,reuseaddr EXEC:cat` and
# `socat UDP-RECVFROM:7,fork EXEC:cat`).
# The last line is "HIL RESULT: PASS", "HIL RESULT: FAIL (...)" or "HIL RESULT: SKIPPED (...)".
# SKIPPED means there was nothing to test: not a board with machine.UART, or no modem answering.
# Without a board, mpremote itself stops first ("no device found").

import time

from slm_mpy import SLM

# --- settings -------------------------------------------------------------------------
ECHO_HOST = ""  # your echo server's public IP address or name (empty: the echo checks fail)
TCP_ECHO_PORT = 7
UDP_ECHO_PORT = 7
ATTACH_TIMEOUT_S = 180
UART_ID = 1
PIN_TX, PIN_RX, PIN_CTS, PIN_RTS = 4, 5, 6, 7  # GP4..GP7
BAUD = 115200
# ---------------------------------------------------------------------------------------


class Skip(Exception):
    pass


class Checks:
    def __init__(self):
        self.failed = []

    def check(self, name, fn, *args):
        """Run one check: it returns a detail string, or raises (failure) or Skip."""
        start = time.ticks_ms()
        try:
            detail = fn(*args)
        except Skip:
            raise
        except Exception as e:  # a failed check must not stop the others
            self.failed.append(name)
            print("FAIL %-10s %r" % (name, e))
            return False
        print("ok   %-10s %s (%d ms)" % (name, detail, time.ticks_diff(time.ticks_ms(), start)))
        return True


def open_uart():
    try:
        from machine import UART, Pin
    except ImportError:
        raise Skip("not on a board: no machine.UART")
    return UART(UART_ID, BAUD, tx=Pin(PIN_TX), rx=Pin(PIN_RX), cts=Pin(PIN_CTS), rts=Pin(PIN_RTS),
                flow=UART.RTS | UART.CTS, timeout=0, rxbuf=4096)


def check_modem(modem, timeout_ms):
    try:
        modem.wait_ready(timeout_ms)
    except OSError:
        raise Skip("no modem answers on UART%d (GP%d TX, GP%d RX): wiring, DK power, SLM firmware?" % (UART_ID, PIN_TX, PIN_RX))
    return "answers AT"


def check_version(modem):
    lines = modem.at("AT#XSLMVER")
    assert lines and lines[0].startswith("#XSLMVER:"), lines
    return lines[0]


def _stat(line):
    fields = line.split(":", 1)[1].split(",")
    return int(fields[1]) if len(fields) > 1 and fields[1].strip().isdigit() else int(fields[0])


def check_attach(modem, timeout_s):
    modem.at("AT+CEREG=1")
    modem.at("AT+CFUN=1", 30000)
    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < timeout_s * 1000:
        for line in modem.at("AT+CEREG?"):
            if line.startswith("+CEREG:") and _stat(line) in (1, 5):
                return "registered (%s)" % ("home" if _stat(line) == 1 else "roaming")
        wait = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), wait) < 1000:
            if not modem.poll():
                modem.transport.wait(20)
    raise OSError(110, "not registered after %d s" % timeout_s)


def _pattern(n):
    out = bytearray(n)
    for i in range(n):
        out[i] = (i * 7 + (i >> 8)) & 255
    return bytes(out)


def check_tcp(modem, host, port):
    if not host:
        raise ValueError("ECHO_HOST is not set")
    text = b"slm_mpy hil tcp\r\n"
    data = _pattern(2048)
    with modem.tcp_client(host, port) as conn:
        for payload in (text, data):
            conn.send(payload)
            got = bytearray()
            while len(got) < len(payload):
                chunk = conn.recv(1024, timeout_ms=15000)
                assert chunk, "connection closed after %d of %d bytes" % (len(got), len(payload))
                got += chunk
            assert bytes(got) == payload, "echo differs at byte %d" % _first_difference(got, payload)
    return "%d + %d bytes echoed" % (len(text), len(data))


def check_udp(modem, host, port):
    if not host:
        raise ValueError("ECHO_HOST is not set")
    u = modem.udp_client(host, port)
    try:
        for payload in (b"slm_mpy hil udp", _pattern(512)):
            for attempt in range(3):  # UDP may drop a datagram: try again
                u.send(payload)
                try:
                    got = u.recv(2048, timeout_ms=5000)
                except OSError as e:
                    if e.errno != 110 or attempt == 2:
                        raise
                    continue
                assert got == payload, "reply differs: %d bytes" % len(got)
                break
    finally:
        u.close()
    return "2 datagrams echoed"


def _first_difference(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


def run(uart=None, echo_host=ECHO_HOST, tcp_port=TCP_ECHO_PORT, udp_port=UDP_ECHO_PORT, attach_timeout_s=ATTACH_TIMEOUT_S, ready_timeout_ms=10000):
    """All checks; prints and returns "PASS", "FAIL (...)" or "SKIPPED (...)"."""
    checks = Checks()
    try:
        modem = SLM(uart if uart is not None else open_uart())
        checks.check("modem", check_modem, modem, ready_timeout_ms)
        checks.check("version", check_version, modem)
        if checks.check("attach", check_attach, modem, attach_timeout_s):
            checks.check("tcp echo", check_tcp, modem, echo_host, tcp_port)
            checks.check("udp echo", check_udp, modem, echo_host, udp_port)
    except Skip as e:
        result = "SKIPPED (%s)" % e
    else:
        result = "FAIL (%s)" % ", ".join(checks.failed) if checks.failed else "PASS"
    print("HIL RESULT: " + result)
    return result


if __name__ == "__main__":
    run()
