# slm_mpy application for a Raspberry Pi Pico wired to an nRF9160 DK running Serial LTE
# Modem firmware (wiring and settings: README.md beside this file).
#
#     mpremote mip install github:<org>/<repo>            # the driver, into /lib
#     mpremote cp boards/rp2040_pico/main.py :main.py     # this file: runs at every boot
#     mpremote reset && mpremote repl                     # restart and watch it
#
# or once, without installing it as main.py: mpremote run boards/rp2040_pico/main.py
#
# It waits for the modem, attaches to the LTE network, sends a line to a TCP echo server
# (if ECHO_HOST is set) and fetches the response headers of an HTTP page, printing every
# step. Edit the settings below; run(...) takes the same values as arguments.

import time

from slm_mpy import SLM, ATError

# --- settings -------------------------------------------------------------------------
UART_ID = 1
PIN_TX, PIN_RX, PIN_CTS, PIN_RTS = 4, 5, 6, 7  # GP4..GP7 = UART1 TX/RX/CTS/RTS
BAUD = 115200
RX_BUFFER = 4096  # machine.UART receive buffer: ~0.35 s of data at 115200 baud
ATTACH_TIMEOUT_S = 180  # a first attach (new SIM, new cell) can take minutes
ECHO_HOST = None  # a TCP echo server you run, e.g. "203.0.113.7"; None skips the echo step
ECHO_PORT = 7
HTTP_HOST = "example.com"
HTTP_PORT = 80
HTTP_PATH = "/"
# ---------------------------------------------------------------------------------------

_REGISTERED = (1, 5)  # +CEREG stat: home network, roaming
_STAT_TEXT = {0: "not searching", 1: "registered (home)", 2: "searching", 3: "denied", 4: "unknown", 5: "registered (roaming)", 90: "SIM failure"}


def log(text):
    print("[slm] " + text)


def open_uart():
    """UART1 on GP4-GP7 with RTS/CTS, non-blocking reads and a large receive buffer."""
    from machine import UART, Pin

    return UART(UART_ID, BAUD, bits=8, parity=None, stop=1,
                tx=Pin(PIN_TX), rx=Pin(PIN_RX), cts=Pin(PIN_CTS), rts=Pin(PIN_RTS),
                flow=UART.RTS | UART.CTS, timeout=0, rxbuf=RX_BUFFER)


def _stat(line):
    # "+CEREG: <stat>[,...]" (URC) or "+CEREG: <n>,<stat>[,...]" (answer to AT+CEREG?).
    fields = line.split(":", 1)[1].split(",")
    try:
        if len(fields) > 1 and fields[1].strip().isdigit():
            return int(fields[1])
        return int(fields[0])
    except ValueError:
        return -1


def keep_polling(modem, ms):
    """Let the driver receive for ``ms`` milliseconds (URC callbacks run meanwhile)."""
    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < ms:
        if not modem.poll():
            modem.transport.wait(10)


def attach(modem, timeout_s=ATTACH_TIMEOUT_S):
    """AT+CFUN=1, then wait until +CEREG says registered. Returns True when attached."""
    seen = []

    def on_cereg(line):
        stat = _stat(line)
        seen.append(stat)
        log("network: %s" % _STAT_TEXT.get(stat, line))

    modem.on("+CEREG", on_cereg)
    try:
        modem.at("AT+CEREG=1")
        for line in modem.at("AT+CEREG?"):
            if _stat(line) in _REGISTERED:
                log("already attached")
                return True
        modem.at("AT+CFUN=1", 30000)
        log("radio on, searching (up to %d s)" % timeout_s)
        start = time.ticks_ms()
        asked = start
        while time.ticks_diff(time.ticks_ms(), start) < timeout_s * 1000:
            if seen and seen[-1] in _REGISTERED:
                return True
            if time.ticks_diff(time.ticks_ms(), asked) > 10000:  # in case a URC was missed
                asked = time.ticks_ms()
                for line in modem.at("AT+CEREG?"):
                    if _stat(line) in _REGISTERED:
                        return True
            keep_polling(modem, 100)
        return False
    finally:
        modem.on("+CEREG", None)


def tcp_echo(modem, host, port):
    """Send one line to a TCP echo server and check that it comes back."""
    line = b"hello from slm_mpy on a Pico\r\n"
    with modem.tcp_client(host, port) as conn:
        conn.send(line)
        got = b""
        while len(got) < len(line):
            chunk = conn.recv(256, timeout_ms=10000)
            if not chunk:
                break
            got += chunk
    log("echo %s" % ("OK" if got == line else "MISMATCH: %r" % got))
    return got == line


def http_headers(modem, host, port, path):
    """GET ``path`` and print the status line and headers; returns the status line."""
    request = "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)
    data = b""  # the first 4 KiB: status line and headers
    total = 0
    with modem.tcp_client(host, port) as conn:
        conn.send(request)
        while True:
            chunk = conn.recv(512, timeout_ms=15000)
            if not chunk:
                break  # the server closed the connection: everything arrived
            total += len(chunk)
            if len(data) < 4096:
                data += chunk
    end = data.find(b"\r\n\r\n")
    head = data[:end] if end >= 0 else data
    body = total - end - 4 if end >= 0 else 0
    lines = head.split(b"\r\n")
    for line in lines:
        if line:
            log("  " + _text(line))
    log("%d body bytes" % body)
    return _text(lines[0])


def _text(line):
    # MicroPython's decode() has no "replace": show undecodable bytes as escapes.
    try:
        return line.decode()
    except UnicodeError:
        return repr(line)[2:-1]


def run(uart=None, echo=(ECHO_HOST, ECHO_PORT), http=(HTTP_HOST, HTTP_PORT, HTTP_PATH), attach_timeout_s=ATTACH_TIMEOUT_S):
    """The whole demo; returns True if every step worked."""
    if uart is None:
        try:
            uart = open_uart()
        except ImportError:
            log("this is the Pico application: it needs machine.UART (run it on the board)")
            return False
    modem = SLM(uart)
    log("waiting for the modem")
    try:
        modem.wait_ready(10000)
    except OSError:
        log("no answer on UART%d (GP%d/GP%d): check wiring, power and SLM firmware" % (UART_ID, PIN_TX, PIN_RX))
        return False
    log("modem ready: %s" % ", ".join(modem.at("AT#XSLMVER")))
    ok = True
    try:
        if not attach(modem, attach_timeout_s):
            log("not attached after %d s: check the SIM, antenna and coverage" % attach_timeout_s)
            return False
        log("attached")
        if echo[0]:
            log("TCP echo via %s:%d" % echo)
            ok = tcp_echo(modem, echo[0], echo[1]) and ok
        if http[0]:
            log("HTTP GET http://%s:%d%s" % http)
            status = http_headers(modem, http[0], http[1], http[2])
            ok = status.startswith("HTTP/") and ok
    except ATError as e:
        log("modem refused %s" % e)
        ok = False
    except OSError as e:
        log("failed: %r" % (e,))
        ok = False
    log("done: %s" % ("all steps OK" if ok else "some steps failed"))
    return ok


if __name__ == "__main__":
    run()
