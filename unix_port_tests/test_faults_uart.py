# slm_sim: --fw 3.1 --baud 0
# slm_sim: --fw 2.6 --baud 0
# timeout: 60
"""Faults on the UART itself (issue 8): a lost OK, binary payload left on SLM's command line.

Same simulator set-up as test_faults.py. Each test asserts that the driver finds its way
back: the modem answers commands again and no command reaches the network peer as data.
"""

from faultkit import accept, listen, noise, raises, recover
from simlink import attach, control, modem, pause
from test_faults import echo_ok


def test_lost_ok_of_the_data_mode_entry():
    # The "OK" that answers AT#XTCPSEND is damaged on the UART. The modem is in data mode,
    # the driver never saw it get there: the send times out -- and then every command goes
    # to the peer as payload, for good. After a data-mode command timed out the driver must
    # assume data mode and leave it ("+++") before the next command.
    m = modem()
    server, port = listen()
    c = m.tcp_client("127.0.0.1", port, timeout_ms=2000)
    peer = accept(server, m)
    assert control("drop-bytes 3") == "ok"  # "\r\nO" of "\r\nOK\r\n": the line reads "K"
    e = raises(OSError, c.send, noise(17, 2048))
    assert e.errno == 110, e
    recover(m, timeout_ms=8000)
    assert m.at("AT+CGMI") == ["Nordic Semiconductor ASA"]
    leaked = peer_read_some(peer, m)
    assert b"AT" not in leaked, "commands reached the network peer as data: %r" % leaked[:80]
    peer.close()
    server.close()


def peer_read_some(sock, m):
    out = b""
    for _ in range(50):
        try:
            chunk = sock.read(4096)
        except OSError:
            chunk = None
        if chunk:
            out += chunk
        else:
            pause(m, 2)
    return out


def test_modem_usable_after_payload_reached_its_command_line():
    # The modem reboots during a data-mode send; the driver notices only from the banner,
    # and what it wrote after the reboot reached SLM's command line. That line assembly is
    # quote-aware: after an odd number of '"' every CR LF is part of a string and the modem
    # swallows all later commands. (bench/soak.py --faults reboot-send hits this within a
    # minute or two; here the tail of such a stream is written directly, so it always does.)
    # The driver must get the modem answering again -- e.g. when its probe after a timeout
    # gets no answer, send '"' CR LF (closes the string; SLM answers ERROR) and probe again.
    m = modem()
    assert control("reboot") == "ok"
    m.wait_ready(3000)
    m.write(b'\x93\x07"\xc1payload tail\r\n')  # as the last bytes of a binary payload would
    recover(m, timeout_ms=10000)
    attach(m)
    echo_ok(m)
