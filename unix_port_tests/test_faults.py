# slm_sim: --fw 3.1 --baud 0
# slm_sim: --fw 2.6 --baud 0
# timeout: 60
"""Fault scenarios against slm_sim with real loopback peers (issue 8).

Faults come from the simulator's control port: reboots at a chosen byte, a peer that closes
during data mode, a registration loss. Every pending operation must fail with an OSError
(``ModemReset`` where the driver saw the reboot), within its timeout, and the modem must be
usable afterwards. Data that did arrive must be exactly what the peer sent.
"""

import hashlib
import time

from faultkit import ECONNRESET, accept, fw, listen, noise, pattern, peer_write, raises, recover, sim_status
from simlink import PatternStream, attach, control, env_port, modem, pause

from slm_mpy import ModemReset
from slm_mpy.engine import DATAMODE, LINE

ENETUNREACH = 101
EHOSTUNREACH = 113


def echo_ok(m, n=2048, seed=9):
    """A fresh TCP connection through the echo peer carries ``n`` binary bytes intact.

    1 KiB at a time: the echo comes back while the next piece is sent, and nobody reads
    during a send, so more in flight would have to fit the connection's queue.
    """
    data = bytes(pattern(seed, (n + 1023) // 1024)[:n])
    got = bytearray()
    buf = bytearray(1024)
    with m.tcp_client("127.0.0.1", env_port("SLM_ECHO_TCP_PORT"), timeout_ms=5000) as c:
        for off in range(0, n, 1024):
            piece = data[off : off + 1024]
            assert c.send(piece) == len(piece)
            while len(got) < off + len(piece):
                k = c.recv_into(buf, timeout_ms=5000)
                assert k, "closed after %d bytes" % len(got)
                got += buf[:k]
    assert bytes(got) == data


def peer_echo(c, n):
    got = b""
    while len(got) < n:
        chunk = c.recv(n - len(got), timeout_ms=5000)
        assert chunk
        got += chunk
    return got


def test_reboot_mid_command_fails_it_with_modem_reset():
    m = modem()
    # The modem takes 5 bytes of the command, then reboots: no final result ever comes.
    assert control("reboot-after-rx 5") == "ok"
    started = time.ticks_ms()
    e = raises(ModemReset, m.at, "AT+CFUN?", timeout_ms=5000)
    assert isinstance(e, OSError) and e.errno == ECONNRESET
    assert time.ticks_diff(time.ticks_ms(), started) < 3000  # from the banner, not a timeout
    m.wait_ready(5000)
    assert m.at("AT") == []
    assert m.at("AT+CFUN?") == ["+CFUN: 0"]  # a rebooted modem starts with the radio off
    attach(m)
    echo_ok(m)


def test_reboot_while_the_reply_is_on_the_wire():
    m = modem()
    # Output stops after the first bytes of the reply; the banner follows mid-line.
    assert control("reboot-after-tx 4") == "ok"
    raises(ModemReset, m.at, "AT+CGMI", timeout_ms=5000)
    m.wait_ready(5000)
    assert m.at("AT+CGMI") == ["Nordic Semiconductor ASA"]
    assert m.reboots >= 2


def test_reboot_with_a_connection_open_closes_it():
    m = modem()
    c = m.tcp_client("127.0.0.1", env_port("SLM_ECHO_TCP_PORT"), timeout_ms=5000)
    c.send(b"before")
    assert peer_echo(c, 6) == b"before"
    assert control("reboot") == "ok"
    e = raises(ModemReset, c.recv, 10, timeout_ms=5000)
    assert e.errno == ECONNRESET
    assert c.closed and c.recv(10, timeout_ms=10) == b""
    raises(OSError, c.send, b"after")
    m.wait_ready(5000)
    attach(m)
    echo_ok(m)


def test_peer_closes_during_a_data_mode_send():
    m = modem()
    server, port = listen()
    c = m.tcp_client("127.0.0.1", port, timeout_ms=8000)
    peer = accept(server, m)  # takes what comes, sends nothing back
    data = noise(6, 32 * 1024)  # no "+++" runs: one data-mode pass (see test_faults_pending.py)
    # The network peer goes away once 8 KiB of the stream reached the modem. SLM 3.1 answers
    # with "+++" and drops input; 2.6 drops silently. Either way: a clear error.
    fired = [False]
    sent = [0]
    write_some = m.transport.write_some

    def counting(buf):
        n = write_some(buf)
        if m.state == DATAMODE:
            sent[0] += n
            if sent[0] >= 8192 and not fired[0]:
                fired[0] = True
                assert control("peer-close") == "ok"
                # The simulator closes on another thread. Wait until its data mode has
                # dropped the connection: unpaced, the rest of the stream and our "+++"
                # could otherwise reach it first, and the send would rightly succeed.
                for _ in range(400):
                    if sim_status("mode") == "drop":
                        break
                    pause(m, 5)
                else:
                    raise AssertionError("the simulator never dropped the connection")
        return n

    m.transport.write_some = counting
    started = time.ticks_ms()
    e = raises(OSError, c.send, data)
    took = time.ticks_diff(time.ticks_ms(), started)
    m.transport.write_some = write_some
    assert fired[0]
    assert e.errno == ECONNRESET, e
    assert c.closed and c.error is not None
    assert took < 8000  # (that 3.1's "+++" also stops the stream early: test_faults_pending.py)
    assert m.state == LINE and m.at("AT") == []
    peer.close()
    server.close()
    echo_ok(m)


def test_slow_reader_loses_nothing():
    m = modem()
    server, port = listen()
    c = m.tcp_client("127.0.0.1", port, timeout_ms=5000)
    peer = accept(server, m)
    total = 128 * 1024
    gen = PatternStream(7)
    block = bytearray(1024)
    h_sent = hashlib.sha256()
    h_got = hashlib.sha256()
    buf = bytearray(1024)
    sent = got = reads = 0
    pending = memoryview(block)[:0]
    while got < total:
        # The peer pushes as much as the network takes; the application then sleeps without
        # polling (nobody reads the UART: the buffers fill and flow control holds the modem).
        while sent < total or len(pending):
            if not len(pending):
                gen.block(sent // 1024, block)
                h_sent.update(block)
                sent += 1024
                pending = memoryview(block)
            try:
                n = peer.write(pending)
            except OSError:
                n = 0
            if not n:
                break
            pending = pending[n:]
        time.sleep_ms(250 if reads % 40 == 5 else 3)
        k = c.recv_into(buf, timeout_ms=5000)
        assert k, "closed after %d bytes" % got
        h_got.update(memoryview(buf)[:k])
        got += k
        reads += 1
    assert got == total
    assert h_got.digest() == h_sent.digest(), "data changed under backpressure"
    assert m.garbage_lines == 0 and m.orphan_bytes == 0 and m.overlong_lines == 0
    c.close()
    peer.close()
    server.close()


def test_network_outage_is_seen_and_recovered():
    m = modem()
    seen = []
    m.on("+CEREG", seen.append)
    assert control("cereg 0") == "ok"
    start = time.ticks_ms()
    while not seen and time.ticks_diff(time.ticks_ms(), start) < 3000:
        pause(m, 10)
    assert seen and seen[-1].startswith("+CEREG: 0"), seen
    # While not registered, operations fail at once with a network error.
    e = raises(OSError, m.tcp_client, "127.0.0.1", env_port("SLM_ECHO_TCP_PORT"))
    assert e.errno in (ENETUNREACH, EHOSTUNREACH), e
    e = raises(OSError, m.resolve, "localhost")
    assert e.errno == EHOSTUNREACH
    e = raises(OSError, m.udp_client, "127.0.0.1", env_port("SLM_ECHO_UDP_PORT"))
    assert e.errno in (ENETUNREACH, EHOSTUNREACH), e
    assert m.tcp is None and m.udp is None
    # The network comes back: the application sees it and carries on.
    assert control("cereg 1") == "ok"
    start = time.ticks_ms()
    while seen[-1].startswith("+CEREG: 0") and time.ticks_diff(time.ticks_ms(), start) < 3000:
        pause(m, 10)
    assert seen[-1].startswith("+CEREG: 1"), seen
    echo_ok(m)
    u = m.udp_client("127.0.0.1", env_port("SLM_ECHO_UDP_PORT"))
    u.send(b"\x00back\xff")
    assert u.recv(100, timeout_ms=5000) == b"\x00back\xff"
    u.close()


def test_byte_loss_on_the_uart_then_recovery():
    # Bytes to the host are lost at random for a while. Every failure is an OSError, no
    # call hangs past its timeout, and once the link is clean again the modem works: a
    # fresh connection carries data intact. (The payload has no protocol look-alikes here;
    # test_faults_pending.py has the case with them.)
    m = modem()
    server, port = listen()
    c = m.tcp_client("127.0.0.1", port, timeout_ms=1000)
    peer = accept(server, m)
    assert control("set drop-rate 0.002") == "ok"
    peer_write(peer, noise(8, 32 * 1024), m)
    got, errors = drain_with_errors(c)
    assert control("set drop-rate 0") == "ok"
    print("received %d of %d bytes, errors %r, garbage lines %d" % (got, 32 * 1024, errors, m.garbage_lines))
    peer.close()
    server.close()
    close_and_recover(m, c)
    echo_ok(m, 4096, seed=10)
    assert m.rxsize == len(m.rxbuf)


def drain_with_errors(c, ms=4000):
    """Read ``c`` for up to ``ms``, tolerating up to four errors; returns (bytes, errors)."""
    errors = []
    got = 0
    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < ms:
        try:
            chunk = c.recv(2048, timeout_ms=500)
        except OSError as e:
            errors.append(e)
            if len(errors) > 3:
                break
            continue
        if not chunk:
            break
        got += len(chunk)
    return got, errors


def close_and_recover(m, c):
    """What an application does after a fault on ``c``: close it, then get the modem back."""
    try:
        c.close()  # stop taking its data first: a full queue would hold every reply back
    except OSError:
        pass
    recover(m)
    try:
        m.at("AT#XTCPCLI=0", timeout_ms=2000)  # the close itself may have been lost
    except OSError:
        pass


def test_byte_corruption_on_the_uart_then_recovery():
    m = modem()
    server, port = listen()
    c = m.tcp_client("127.0.0.1", port, timeout_ms=1000)
    peer = accept(server, m)
    assert control("set corrupt-rate 0.002") == "ok"
    peer_write(peer, noise(11, 32 * 1024), m)
    got, errors = drain_with_errors(c)
    assert control("set corrupt-rate 0") == "ok"
    print("received %d of %d bytes, errors %r, garbage lines %d" % (got, 32 * 1024, errors, m.garbage_lines))
    peer.close()
    server.close()
    close_and_recover(m, c)
    echo_ok(m, 4096, seed=12)
    assert m.rxsize == len(m.rxbuf)


def test_reboot_mid_send_fails_the_send():
    m = modem()
    server, port = listen()
    c = m.tcp_client("127.0.0.1", port, timeout_ms=5000)
    peer = accept(server, m)  # takes what comes, sends nothing back
    data = pattern(4, 8)
    # AT#XTCPSEND<CR><LF> is 13 bytes; the modem reboots 3000 bytes into the stream.
    assert control("reboot-after-rx %d" % (13 + 3000)) == "ok"
    started = time.ticks_ms()
    e = raises(OSError, c.send, data)
    took = time.ticks_diff(time.ticks_ms(), started)
    assert took < 8000, "send took %d ms to fail" % took
    assert m.state == LINE
    # The peer never sent a byte: whatever the connection hands out now is modem output.
    try:
        leaked = c.recv(2048, timeout_ms=300)
    except OSError:
        leaked = b""
    assert leaked == b"", "modem output arrived as received data: %r" % leaked[:60]
    assert c.closed, "the connection still looks open after the modem rebooted (send raised %r)" % (e,)
    raises(OSError, c.send, b"x")
    m.wait_ready(5000)
    recover(m)
    attach(m)
    peer.close()
    server.close()
    echo_ok(m)


def test_reboot_mid_receive_reports_the_loss():
    m = modem()
    server, port = listen()
    c = m.tcp_client("127.0.0.1", port, timeout_ms=5000)
    peer = accept(server, m)
    data = pattern(5, 2)[:1500]
    # The next bytes to the host are "\r\n#XTCPDATA: 1500\r\n" + payload: cut after 500.
    assert control("reboot-after-tx 500") == "ok"
    peer_write(peer, data, m)
    got = bytearray()
    error = None
    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < 5000:
        try:
            chunk = c.recv(2048, timeout_ms=1000)
        except OSError as e:
            error = e
            break
        if not chunk:
            break
        got += chunk
    assert bytes(data).startswith(bytes(got)), "the banner (or other modem output) arrived as payload: %r" % bytes(got[-20:])
    assert error is not None and error.errno in (5, ECONNRESET), "loss not reported: %r" % (error,)
    assert c.closed
    m.wait_ready(3000)
    assert m.at("AT", timeout_ms=1000) == []
    peer.close()
    server.close()


def test_peer_closes_between_two_data_mode_passes():
    # A payload with "+++" goes out as data mode, the run of '+' as AT#XTCPSEND="+++", then
    # data mode again. The peer closes just before the quoted piece: SLM reports the
    # disconnect and answers the send with ERROR. The application must learn that the
    # connection was lost (ECONNRESET/ENOTCONN, closed), not get a bare "ERROR".
    m = modem()
    server, port = listen()
    c = m.tcp_client("127.0.0.1", port, timeout_ms=5000)
    peer = accept(server, m)
    data = noise(14, 4096) + b"+++" + noise(15, 4096)
    write_some = m.transport.write_some
    fired = [False]

    def hook(buf):
        # The quoted command's first write is its name up to the opening quote (the text
        # follows from the caller's buffer); the data-mode command has no '='.
        if not fired[0] and bytes(buf).startswith(b'AT#XTCPSEND="'):
            fired[0] = True
            assert control("peer-close") == "ok"
            pause(m, 100)  # the modem notices the close and says so before the command
        return write_some(buf)

    m.transport.write_some = hook
    e = raises(OSError, c.send, data)
    m.transport.write_some = write_some
    assert fired[0]
    assert e.errno in (ECONNRESET, 107), "the lost connection came back as %r" % (e,)
    assert c.closed
    assert m.at("AT") == []
    peer.close()
    server.close()


def test_modem_plus_plus_plus_stops_the_stream():
    # SLM >= 2.7 writes "+++" to the host the moment the connection is lost in data mode
    # and drops everything after it. The driver must notice while streaming and stop,
    # not push the rest of a long payload into the drop state. (2.6 drops silently: there
    # is nothing to notice, so this is a 3.1 test.)
    if fw() != "3.1":
        return
    m = modem()
    server, port = listen()
    c = m.tcp_client("127.0.0.1", port, timeout_ms=8000)
    peer = accept(server, m)
    data = noise(16, 32 * 1024)
    fired = [False]
    sent = [0]
    write_some = m.transport.write_some

    def counting(buf):
        n = write_some(buf)
        if m.state == DATAMODE:
            sent[0] += n
            if sent[0] >= 8192 and not fired[0]:
                fired[0] = True
                assert control("peer-close") == "ok"
                time.sleep_ms(50)  # the modem's "+++" is on the wire before the next chunk
        return n

    m.transport.write_some = counting
    e = raises(OSError, c.send, data)
    m.transport.write_some = write_some
    assert e.errno == ECONNRESET, e
    assert sent[0] < 16 * 1024, "kept streaming %d bytes after the modem said +++" % sent[0]
    peer.close()
    server.close()
