"""A guided tour of slm_mpy: every step prints what it does and what the modem said.

``python -m slm_sim demo`` (``make demo``) runs this file under the MicroPython unix port
against the simulator and its loopback echo servers. It uses only the public API, so it
reads as a walk through the driver:

1. wait for the modem (``Ready``), ask its version (``AT#XSLMVER``);
2. attach: ``AT+CEREG=1``, ``AT+CFUN=1``, and print each ``+CEREG`` URC as it arrives;
3. TCP: connect to an echo server, send text and binary (with ``+++`` and ``\\r\\nOK\\r\\n``
   inside), check the echo, read ``AT#XTCPCLI?``, close;
4. UDP: send datagrams to an echo server, check each reply and its sender, close.
   (A binary datagram containing ``+++`` cannot cross SLM's data mode: the driver refuses it.)

Any mismatch raises, so the exit status says whether the driver worked.

Board: copy ``slm_mpy/``, ``modem_setup.py`` (its ``open_uart()`` holds the UART pins) and
this file, and point ECHO_HOST/ECHO_TCP_PORT/ECHO_UDP_PORT below at echo servers you run.
Unix port against the simulator::

    SLM_SIM_PORT=<sim port> ECHO_HOST=127.0.0.1 ECHO_TCP_PORT=<p> ECHO_UDP_PORT=<q> \\
    MICROPYPATH=<repo>:.frozen micropython examples/demo.py
"""

from modem_setup import cereg_stat, open_uart, setting
from slm_mpy import SLM
from slm_mpy.compat import ticks_diff, ticks_ms

ECHO_HOST = setting("ECHO_HOST", "192.0.2.1")  # a TCP + UDP echo server you run
ECHO_TCP_PORT = int(setting("ECHO_TCP_PORT", "7"))
ECHO_UDP_PORT = int(setting("ECHO_UDP_PORT", "7"))

CEREG_TEXT = {0: "not searching", 1: "registered, home network", 2: "searching",
              3: "registration denied", 4: "unknown", 5: "registered, roaming", 90: "SIM failure"}

# Bytes that look like the protocol: a driver that scanned the payload for them would break.
BINARY = b"\x00\x01binary +++ payload\r\nOK\r\n#XTCPDATA: 5\r\n\"quoted\"\xff" + bytes(range(256))

T0 = ticks_ms()


def say(text):
    print("[%5d ms] %s" % (ticks_diff(ticks_ms(), T0), text))


def check(ok, what):
    if not ok:
        raise AssertionError(what)


def show(data, limit=40):
    """A short printable form of a payload."""
    text = repr(bytes(data[:limit]))
    return text + (" ... (%d bytes)" % len(data) if len(data) > limit else "")


def recv_exactly(conn, n):
    """TCP is a byte stream: an echo may come back in several pieces."""
    data = b""
    while len(data) < n:
        piece = conn.recv(n - len(data), timeout_ms=5000)
        check(piece, "connection closed after %d of %d bytes" % (len(data), n))
        data += piece
    return data


def keep_polling(modem, until, timeout_ms):
    """Let the driver read the UART (running URC callbacks) until ``until()`` is true."""
    start = ticks_ms()
    while not until():
        check(ticks_diff(ticks_ms(), start) < timeout_ms, "timed out after %d ms" % timeout_ms)
        if not modem.poll():
            modem.transport.wait(20)


def start_modem():
    say("UART open; waiting for the modem's Ready banner")
    modem = SLM(open_uart())
    modem.wait_ready(10000)
    say("modem ready")
    for line in modem.at("AT#XSLMVER"):
        say("AT#XSLMVER -> %s" % line)
    return modem


def attach(modem):
    stats = []

    def on_cereg(line):  # runs inside modem.poll() whenever a +CEREG URC arrives
        stat = cereg_stat(line)
        stats.append(stat)
        say("URC %s   (%s)" % (line, CEREG_TEXT.get(stat, "?")))

    modem.on("+CEREG", on_cereg)
    modem.at("AT+CEREG=1")
    say("AT+CEREG=1 -> OK   (report registration changes)")
    start = ticks_ms()
    say("AT+CFUN=1   (radio on; +CEREG URCs follow)")
    modem.at("AT+CFUN=1", 30000)  # a URC can come in the same read as the OK: on_cereg runs first
    keep_polling(modem, lambda: stats and stats[-1] in (1, 5), 60000)
    ms = ticks_diff(ticks_ms(), start)
    say("attached in %d ms" % ms)
    modem.on("+CEREG", None)
    return ms


def tcp_echo(modem):
    print("--- TCP client: echo server %s:%d" % (ECHO_HOST, ECHO_TCP_PORT))
    total = 0
    with modem.tcp_client(ECHO_HOST, ECHO_TCP_PORT) as conn:
        say("tcp_client(%r, %d) -> connected, handle %d" % (ECHO_HOST, ECHO_TCP_PORT, conn.handle))
        for label, data in (("text", b"Hello from slm_mpy over the Serial LTE Modem"),
                            ("binary", BINARY)):
            n = conn.send(data)
            say("send %s: %d bytes %s" % (label, n, show(data)))
            echo = recv_exactly(conn, len(data))
            check(echo == data, "%s echo differs: %s" % (label, show(echo)))
            say("recv %d bytes: echo matches" % len(echo))
            total += len(data)
        for line in modem.at("AT#XTCPCLI?"):
            say("AT#XTCPCLI? -> %s   (handle, family)" % line)
        check(modem.tcp_client_status()[0] == conn.handle, "AT#XTCPCLI? shows another handle")
    say("closed; tcp_client_status() -> %r" % (modem.tcp_client_status(),))
    return total


def udp_echo(modem):
    print("--- UDP client: echo server %s:%d" % (ECHO_HOST, ECHO_UDP_PORT))
    count = 0
    with modem.udp_client(ECHO_HOST, ECHO_UDP_PORT) as conn:
        say("udp_client(%r, %d) -> handle %d" % (ECHO_HOST, ECHO_UDP_PORT, conn.handle))
        for data in (b"datagram 1", b"text with +++ goes as a string",
                     b"\x00\x01binary\r\nOK\r\n\xff goes in data mode"):
            conn.send(data)
            say("send %s" % show(data))
            reply, sender = conn.recvfrom(1500, timeout_ms=5000)
            check(reply == data, "UDP echo differs: %s" % show(reply))
            # The sender is None with NCS < 2.8, and for a reply that came while the modem was
            # still in data mode (SLM then forwards it raw, without a #XUDPDATA header).
            say("recv %s from %s: matches" % (show(reply), "%s:%d" % sender if sender else "(sender not reported)"))
            count += 1
        # SLM's data mode ends at "+++" and a datagram must go in one piece: the driver
        # refuses such a datagram before sending anything.
        try:
            conn.send(b"\x00binary with +++")
            check(False, "a binary datagram with +++ was accepted")
        except ValueError as e:
            say("binary datagram with +++ refused: %s" % e)
        for line in modem.at("AT#XUDPCLI?"):
            say("AT#XUDPCLI? -> %s" % line)
    say("closed; udp_client_status() -> %r" % (modem.udp_client_status(),))
    return count


def main():
    modem = start_modem()
    print("--- attach to the network")
    attach_ms = attach(modem)
    tcp_bytes = tcp_echo(modem)
    datagrams = udp_echo(modem)
    print("--- summary")
    say("attach %d ms; TCP echo %d bytes verified; UDP echo %d datagrams verified"
        % (attach_ms, tcp_bytes, datagrams))
    print("demo OK")


main()
