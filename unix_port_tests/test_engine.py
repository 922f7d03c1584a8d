"""AT engine tests under the MicroPython unix port, with a scripted mock UART.

Every exchange runs three times: all bytes at once, one byte per read, random splits.
The parse result must be the same every time.
"""

from mockuart import MockUART, ok_responder

from slm_mpy import SLM, ATError, ModemReset
from slm_mpy.engine import DATAMODE, LINE

SPLITS = (0, 1, -1)


def modem_with(replies, chunk, banner=b"Ready\r\n"):
    """A modem whose mock answers command lines from ``replies`` (bytes -> bytes), else OK."""

    def responder(mock, line):
        for key in replies:
            if line == key:
                mock.feed(replies[key])
                return
        ok_responder(mock, line)

    uart = MockUART(responder, chunk=chunk, seed=7)
    uart.feed(banner)
    modem = SLM(uart)
    modem.wait_ready(1000)
    return modem, uart


def tcp_in_datamode(chunk, after_ok, timeout_ms=30000):
    """A modem with a TCP client whose ``AT#XTCPSEND`` enters data mode; right after its OK
    the modem writes ``after_ok``. Other commands but ``AT#XDATACTRL?`` get no answer."""
    modem, uart = modem_with({b'AT#XTCPCLI=1,"h",1': b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n'}, chunk)
    c = modem.tcp_client("h", 1, timeout_ms=timeout_ms)

    def dm(mock, line):
        if line == b"AT#XDATACTRL?":
            mock.feed(b"\r\n#XDATACTRL: 0,12\r\n\r\nOK\r\n")
        elif line == b"AT#XTCPSEND":
            mock.raw = True
            mock.feed(b"\r\nOK\r\n" + after_ok)

    uart.responder = dm
    return modem, uart, c


def raises(exc_type, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc_type as e:
        return e
    raise AssertionError("%s not raised" % exc_type.__name__)


def test_final_results_every_split():
    replies = {
        b"AT+CFUN?": b"\r\n+CFUN: 1\r\n\r\nOK\r\n",
        b"AT+CFUN=1": b"\r\nOK\r\n",
        b"AT+X": b"\r\nERROR\r\n",
        b"AT+CME": b"\r\n+CME ERROR: 516\r\n",
        b"AT+CMS": b"\r\n+CMS ERROR: 304\r\n",
        b"AT#XTCPCLI=1": b'\r\n#XTCPCLI: -111,"not connected"\r\n\r\nERROR\r\n',
    }
    for chunk in SPLITS:
        modem, _ = modem_with(replies, chunk)
        assert modem.at("AT+CFUN?") == ["+CFUN: 1"]
        assert modem.at("AT+CFUN=1") == []
        e = raises(ATError, modem.at, "AT+X")
        assert e.line == "ERROR" and e.code is None and isinstance(e, OSError)
        e = raises(ATError, modem.at, "AT+CME")
        assert e.line == "+CME ERROR: 516" and e.code == 516
        e = raises(ATError, modem.at, "AT+CMS")
        assert e.line == "+CMS ERROR: 304" and e.code == 304
        e = raises(ATError, modem.at, "AT#XTCPCLI=1")
        assert e.lines == ['#XTCPCLI: -111,"not connected"'] and e.line == "ERROR"


def test_urc_between_information_line_and_ok():
    replies = {b"AT+CFUN?": b"\r\n+CFUN: 1\r\n\r\n+CEREG: 1,\"1285\",\"02EF8210\",7\r\n\r\nOK\r\n"}
    for chunk in SPLITS:
        modem, uart = modem_with(replies, chunk)
        seen = []
        modem.on("+CEREG", seen.append)
        assert modem.at("AT+CFUN?") == ["+CFUN: 1"]
        assert seen == ['+CEREG: 1,"1285","02EF8210",7']
        # The same prefix as the pending command is its information line, not a URC.
        uart.responder = lambda m, line: m.feed(b"\r\n+CEREG: 5,1\r\n\r\nOK\r\n")
        assert modem.at("AT+CEREG?") == ["+CEREG: 5,1"]
        assert len(seen) == 1
        # Outside a command every line is a URC; a catch-all sees unknown ones.
        other = []
        modem.on("", other.append)
        uart.feed(b"\r\n+CEREG: 2\r\n\r\n%XFOO: 1\r\n")
        for _ in range(100):
            modem.poll()
        assert seen[-1] == "+CEREG: 2" and other == ["%XFOO: 1"]


def test_lines_without_leading_crlf_and_irregular_lines():
    replies = {b"AT#XPING": b"\r\nOK\r\n#XPING: 0.637 seconds\r\n"}
    for chunk in SPLITS:
        modem, uart = modem_with(replies, chunk)
        pings = []
        modem.on("#XPING", pings.append)
        assert modem.at("AT#XPING") == []
        for _ in range(100):
            modem.poll()
        assert pings == ["#XPING: 0.637 seconds"]


def test_garbage_and_overlong_lines_resynchronise():
    for chunk in SPLITS:
        modem, uart = modem_with({}, chunk, banner=b"\xc0\xffReady\r\n")
        junk = b"\xff\xfe\x80garbage\r\n" + b"Z" * 5000 + b"\r\n"

        def answer(mock, line):
            if line == b"AT+CFUN?":
                mock.feed(junk + b"\r\n+CFUN: 4\r\n\r\nOK\r\n")
            else:
                ok_responder(mock, line)

        uart.responder = answer
        assert modem.at("AT+CFUN?") == ["+CFUN: 4"]
        assert modem.overlong_lines == 1
        assert modem.garbage_lines >= 1
        assert modem.rxsize == 2560 and len(modem.rxbuf) == 2560  # never grew


def test_payload_containing_protocol_text_every_split():
    payload = b'\r\nOK\r\n#XTCPDATA: 5\r\n\r\nERROR\r\nReady\r\n+++\r\n#XDATAMODE: 0\r\n\x00\xff'
    stream = b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n'
    stream += b"\r\n#XTCPDATA: %d\r\n" % len(payload) + payload
    stream += b"\r\n#XTCPDATA: 4\r\nabcd"
    for chunk in SPLITS:
        modem, uart = modem_with({b'AT#XTCPCLI=1,"h",1': stream}, chunk)
        c = modem.tcp_client("h", 1)
        got = bytearray()
        while len(got) < len(payload) + 4:
            got += c.recv(1000, timeout_ms=200)
        assert bytes(got) == payload + b"abcd", got
        assert modem.reboots == 1  # only the real banner counted
        assert modem.at("AT") == []


def test_udp_data_with_and_without_address():
    stream = b'\r\n#XUDPCLI: 1,"connected"\r\n\r\nOK\r\n'
    stream += b"\r\n#XUDPDATA: 3\r\nabc"  # NCS <= 2.7
    stream += b'\r\n#XUDPDATA: 7,"192.168.1.100",24210\r\nTest OK'  # NCS >= 2.8
    stream += b'\r\n#XUDPDATA: 2,"::1",7\r\n\r\n'
    for chunk in SPLITS:
        modem, _ = modem_with({b'AT#XUDPCLI=1,"h",7': stream}, chunk)
        u = modem.udp_client("h", 7)
        assert u.recvfrom(100, timeout_ms=200) == (b"abc", None)
        assert u.recvfrom(100, timeout_ms=200) == (b"Test OK", ("192.168.1.100", 24210))
        assert u.recvfrom(100, timeout_ms=200) == (b"\r\n", ("::1", 7))


def test_udp_sender_changes_are_reported():
    # The parsed address of the last sender is reused while the same bytes come again:
    # a different sender, even one of the same length, must still be told apart.
    stream = b'\r\n#XUDPCLI: 1,"connected"\r\n\r\nOK\r\n'
    senders = (b'"10.0.0.1",7', b'"10.0.0.1",7', b'"10.0.0.2",7', b'"10.0.0.1",8', b'"10.0.0.1",7', b'"::1",7')
    for k, who in enumerate(senders):
        stream += b"\r\n#XUDPDATA: 1," + who + b"\r\n" + bytes([48 + k])
    stream += b"\r\n#XUDPDATA: 1\r\nx"  # an older modem's header: no address
    expected = [("10.0.0.1", 7), ("10.0.0.1", 7), ("10.0.0.2", 7), ("10.0.0.1", 8), ("10.0.0.1", 7), ("::1", 7)]
    for chunk in SPLITS:
        modem, _ = modem_with({b'AT#XUDPCLI=1,"h",7': stream}, chunk)
        u = modem.udp_client("h", 7)
        for k, addr in enumerate(expected):
            assert u.recvfrom(10, timeout_ms=200) == (bytes([48 + k]), addr)
        assert u.recvfrom(10, timeout_ms=200) == (b"x", None)


def test_timeout_and_late_reply_is_not_the_next_answer():
    for chunk in SPLITS:
        modem, uart = modem_with({b"AT+SLOW": b""}, chunk)
        e = raises(OSError, modem.at, "AT+SLOW", timeout_ms=30)
        assert e.errno == 110
        # The late reply arrives now; the next command must get its own answer.
        uart.feed(b"\r\n+SLOW: stale\r\n\r\nOK\r\n")
        uart.responder = lambda m, line: m.feed(
            b'\r\n#XSLMVER: "3.1.0","2.7.0"\r\n\r\nOK\r\n' if line == b"AT#XSLMVER" else b"\r\n+CGSN: 1\r\n\r\nERROR\r\n"
        )
        e = raises(ATError, modem.at, "AT+CGSN")
        assert e.lines == ["+CGSN: 1"], e.lines
        assert modem.stray_results >= 1


def test_text_send_after_a_timeout_goes_whole_behind_the_probe():
    # A quoted-string send is written in three pieces from the caller's buffer; when a probe
    # must go first, the whole command still follows it. A modem that takes part of the
    # text (its count is lower) gets the rest in a second command.
    opened = b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n'
    for chunk in SPLITS:
        modem, uart = modem_with({b'AT#XTCPCLI=1,"h",1': opened, b"AT+SLOW": b""}, chunk)
        c = modem.tcp_client("h", 1)
        raises(OSError, modem.at, "AT+SLOW", timeout_ms=30)

        def responder(mock, line):
            if line.startswith(b'AT#XTCPSEND="'):
                mock.feed(b"\r\n#XTCPSEND: %d\r\n\r\nOK\r\n" % min(4, len(line) - 14))
            else:
                ok_responder(mock, line)

        uart.responder = responder
        mark = len(uart.commands)
        assert c.send(bytearray(b"hello world")) == 11
        assert uart.commands[mark:] == [
            b"AT#XSLMVER",
            b'AT#XTCPSEND="hello world"',
            b'AT#XTCPSEND="o world"',
            b'AT#XTCPSEND="rld"',
        ], uart.commands[mark:]
        assert modem._text is None  # the caller's buffer is not kept


VERSION = b'\r\n#XSLMVER: "3.1.0","2.7.0"\r\n\r\nOK\r\n'


def answer_in_order(mock, line, held, version_late=False):
    """A modem that first sends the answers it still owes (``held``, oldest first), then
    answers ``line``: AT+CGMI with its maker, AT#XSLMVER with ``VERSION`` (with
    ``version_late`` it owes that one too), anything else with OK."""
    for answer in held:
        mock.feed(answer)
    del held[:]
    if line == b"AT#XSLMVER":
        if version_late:
            held.append(VERSION)  # one command late again
        else:
            mock.feed(VERSION)
    elif line == b"AT+CGMI":
        mock.feed(b"\r\nNordic Semiconductor ASA\r\n\r\nOK\r\n")
    else:
        ok_responder(mock, line)


def test_late_answer_to_a_probe_is_not_the_next_commands():
    # After a timeout each command is preceded by a probe (AT#XSLMVER). When a probe times
    # out because the modem is slow (not because its line swallowed it), its answer comes
    # while the next probe waits and looks just like that one's; the next probe's own answer
    # then comes after the real command went out. It must not become the real command's
    # answer: every later command would get the one of the command before it.
    for chunk in SPLITS:
        modem, uart = modem_with({b"AT+SLOW": b""}, chunk)
        raises(OSError, modem.at, "AT+SLOW", timeout_ms=30)
        probes = [0]
        held = []  # answers the slow modem has not sent yet, in order

        def responder(mock, line):
            if not line.startswith(b"AT"):
                held.append(b"\r\nERROR\r\n")  # '"' closed the quoted string: one bad line
                return
            if line == b"AT#XSLMVER":
                probes[0] += 1
                if probes[0] == 1:
                    return  # swallowed inside the quoted string: never answered
                if probes[0] == 2:
                    held.append(VERSION)  # answered, but only while the next probe waits
                    return
            answer_in_order(mock, line, held, version_late=True)

        uart.responder = responder
        raises(OSError, modem.at, "AT+CGMI", timeout_ms=30)  # first probe: swallowed
        raises(OSError, modem.at, "AT+CGMI", timeout_ms=30)  # '"' and a probe: answered late
        assert modem.at("AT+CGMI") == ["Nordic Semiconductor ASA"]
        assert modem.at("AT") == []
        assert modem.at("AT+CGMI") == ["Nordic Semiconductor ASA"]
        assert uart.commands[-7:] == [b"AT#XSLMVER", b'+++"', b"AT#XSLMVER", b"AT#XSLMVER", b"AT+CGMI", b"AT", b"AT+CGMI"]


def test_probe_cut_by_a_reboot_answered_late_is_not_the_next_commands():
    # A probe (after a timeout) that a reboot interrupts fails its command with ModemReset.
    # The rebooted modem may still answer the copy of it that it read after booting (a
    # host that probes while the modem starts up); that answer comes while the next probe
    # waits and looks just like its own. The next probe's own answer then follows the real
    # command out: it must not become that command's answer, or every later command gets
    # the reply of the one before it.
    for answered in (True, False):  # the copy answered late, or lost in the reboot
        for chunk in SPLITS:
            modem, uart = modem_with({b"AT+SLOW": b""}, chunk)
            raises(OSError, modem.at, "AT+SLOW", timeout_ms=30)
            probes = [0]
            held = []  # answers the rebooted modem has not sent yet, in order

            def responder(mock, line):
                if line == b"AT#XSLMVER":
                    probes[0] += 1
                    if probes[0] == 1:
                        mock.feed(b"Ready\r\n")  # the reboot cuts the first probe
                        if answered:
                            held.append(VERSION)  # and the booted modem answers it later
                        return
                answer_in_order(mock, line, held)

            uart.responder = responder
            raises(ModemReset, modem.at, "AT+CGMI")
            assert modem.at("AT+CGMI") == ["Nordic Semiconductor ASA"], (answered, chunk)
            assert modem.at("AT") == []
            assert modem.at("AT+CGMI") == ["Nordic Semiconductor ASA"]
            assert modem.at("AT#XSLMVER") == ['#XSLMVER: "3.1.0","2.7.0"']
            assert modem.at("AT") == []
            assert uart.commands[-7:] == [b"AT#XSLMVER", b"AT#XSLMVER", b"AT+CGMI", b"AT", b"AT+CGMI", b"AT#XSLMVER", b"AT"]


def test_answers_to_lines_sent_before_a_banner_are_not_the_next_commands():
    # wait_ready() probes a modem that is still starting: AT, then after a timeout
    # AT#XSLMVER. Lines the modem read while it booted may be answered after its "Ready"
    # (and no command is pending then). Those answers must not be taken for the next
    # commands': the desync of the timeout outlives the banner, so the next command is
    # preceded by a probe again. The banner does leave a fresh command line: no '+++' or
    # '"' needed to get out of data mode or a quoted string.
    for probes_before in (0, 1):
        for chunk in SPLITS:
            modem, uart = modem_with({}, chunk)
            assert modem.at("AT") == []  # whatever the start-up left is settled
            held = []  # answers the starting modem has not sent yet, in order

            def starting(mock, line):
                held.append(VERSION if line == b"AT#XSLMVER" else b"\r\nOK\r\n")

            def booted(mock, line):
                answer_in_order(mock, line, held)

            uart.responder = starting
            mark = len(uart.commands)
            raises(OSError, modem.at, "AT", timeout_ms=30)
            if probes_before:
                raises(OSError, modem.at, "AT", timeout_ms=30)  # its probe times out too
            assert uart.commands[mark:] == [b"AT", b"AT#XSLMVER"][: 1 + probes_before]
            reboots = modem.reboots
            uart.feed(b"Ready\r\n")
            while modem.reboots == reboots:
                modem.poll()
            uart.responder = booted
            mark = len(uart.commands)
            assert modem.at("AT+CGMI") == ["Nordic Semiconductor ASA"], (probes_before, chunk)
            assert modem.at("AT") == []
            assert modem.at("AT+CGMI") == ["Nordic Semiconductor ASA"]
            assert uart.commands[mark:] == [b"AT#XSLMVER", b"AT+CGMI", b"AT", b"AT+CGMI"], uart.commands[mark:]


def test_short_frame_whose_rest_starts_like_a_message_reports_the_loss():
    # A header that states one byte too few leaves the frame's last byte before SLM's next
    # message. A '#' there looks like that message with its CR LF lost, but no message
    # name follows it: the frame was short, and the byte must not vanish silently.
    for chunk in SPLITS:
        stream = b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n' + b"\r\n#XTCPDATA: 1\r\nA#" + b"\r\n#XTCPDATA: 1\r\nB"
        modem, _ = modem_with({b'AT#XTCPCLI=1,"h",1': stream}, chunk)
        c = modem.tcp_client("h", 1)
        assert c.recv(10, timeout_ms=200) == b"A"
        e = raises(OSError, c.recv, 10, timeout_ms=200)
        assert e.errno == 5, e  # EIO: the loss, before the next frame's data
        assert c.recv(10, timeout_ms=200) == b"B"


def test_ready_mid_command_fails_it_and_closes_connections():
    for chunk in SPLITS:
        replies = {
            b'AT#XTCPCLI=1,"h",1': b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n\r\n#XTCPDATA: 2\r\nhi',
            b"AT+CFUN=1": b"\xc0Ready\r\n",
        }
        modem, uart = modem_with(replies, chunk)
        c = modem.tcp_client("h", 1)
        e = raises(ModemReset, modem.at, "AT+CFUN=1")
        assert isinstance(e, OSError) and e.errno == 104
        assert c.closed
        assert c.recv(10, timeout_ms=10) == b"hi"  # data received before the reboot stays
        raises(ModemReset, c.recv, 10, timeout_ms=10)  # then the loss is reported
        assert c.recv(10, timeout_ms=10) == b""
        assert modem.at("AT") == []  # usable again


def test_ready_then_a_final_in_one_read_still_fails_the_command():
    # A reboot's banner and a final result after it (the rebooted modem answering what it
    # saw of the command) may come in one read or in two: either way the command failed
    # with ModemReset, and the final is dropped as stray.
    for chunk in SPLITS:
        for final in (b"OK", b"ERROR"):
            modem, uart = modem_with({b"AT+CFUN=1": b"\r\nReady\r\n\r\n" + final + b"\r\n"}, chunk)
            assert modem.at("AT") == []  # whatever the start-up left is settled
            reboots, stray = modem.reboots, modem.stray_results
            raises(ModemReset, modem.at, "AT+CFUN=1")
            assert modem.at("AT") == []  # usable, and that OK was its own
            assert modem.reboots == reboots + 1 and modem.stray_results == stray + 1, (chunk, final, modem.stray_results - stray)


def test_command_injection_rejected_before_write():
    modem, uart = modem_with({}, 0)
    mark = len(uart.tx)
    for bad in ("AT+CFUN=1\r\nAT+CFUN=0", "AT\n", 'AT#XTCPSEND="a', "ATE0\rAT", "+CFUN=1", ""):
        raises(ValueError, modem.at, bad)
    assert len(uart.tx) == mark
    # CR/LF inside quotes is legal (PEM certificates).
    assert modem.at('AT%CMNG=0,1,0,"-----BEGIN\r\nX\r\n-----END"') == []


def test_datamode_raw_downlink_and_exit():
    # After OK the modem is in data mode: raw downlink without headers, then #XDATAMODE.
    for chunk in SPLITS:
        modem, uart, c = tcp_in_datamode(chunk, b"raw+\r\nOK\r\n++")
        mark = len(uart.tx)
        data = b"\x00binary\xff"
        uart.quit_reply = b"+tail\r\n#XDATAMODE: 0\r\n"
        assert c.send(data) == len(data)
        sent = uart.written_since(mark)
        assert sent.endswith(data + b"+++"), sent
        assert modem.state == LINE and modem.dm_result == 0
        assert c.recv(100, timeout_ms=100) == b"raw+\r\nOK\r\n+++tail"


def test_modem_plus_plus_plus_means_connection_lost():
    modem, uart, c = tcp_in_datamode(0, b"+++")  # the peer is gone: SLM says +++ and drops input
    uart.quit_reply = b"\r\n#XDATAMODE: -104\r\n"
    e = raises(OSError, c.send, b"\x01" * 3000)
    assert e.errno == 104 and c.closed
    assert modem.state == LINE
    assert c.recv(10, timeout_ms=10) == b""  # the +++ was a signal, not data


def test_backpressure_stops_reading_the_uart():
    # 12 frames of 1 KiB arrive while the application does not read: nothing is dropped,
    # the driver just stops taking bytes from the UART once its buffers are full.
    frames = bytearray(b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n')
    body = bytearray(1024)
    for i in range(12):
        for j in range(1024):
            body[j] = (i * 7 + j) & 255
        frames += b"\r\n#XTCPDATA: 1024\r\n"
        frames += body
    modem, uart = modem_with({b'AT#XTCPCLI=1,"h",1': frames}, 0)
    del frames
    c = modem.tcp_client("h", 1)
    for _ in range(50):
        modem.poll()
    assert uart.pending() > 6000  # still in the "UART", not dropped
    buf = bytearray(700)
    total = 0
    while total < 12 * 1024:
        n = c.recv_into(buf, timeout_ms=200)
        for k in range(n):
            i, j = divmod(total + k, 1024)
            assert buf[k] == (i * 7 + j) & 255, total + k
        total += n
    assert total == 12 * 1024


def test_reentrant_command_from_callback_is_refused():
    modem, uart = modem_with({}, 0)
    errors = []

    def cb(line):
        try:
            modem.at("AT")
        except OSError as e:
            errors.append(e.errno)

    modem.on("+CEREG", cb)
    uart.feed(b"\r\n+CEREG: 1\r\n")
    modem.poll()
    assert errors == [16]
    assert modem.at("AT") == []


def test_a_wrong_frame_length_names_the_suspect_bytes():
    # One payload byte lost on the UART: the frame of 6 ends on the CR of the next header.
    # Its bytes went to the application as they came; the error says how many are suspect,
    # and the next frame arrives intact.
    stream = b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n'
    stream += b"\r\n#XTCPDATA: 6\r\nabcde" + b"\r\n#XTCPDATA: 3\r\nxyz"
    for chunk in SPLITS:
        modem, _ = modem_with({b'AT#XTCPCLI=1,"h",1': stream}, chunk)
        c = modem.tcp_client("h", 1)
        got = b""
        while len(got) < 6:
            got += c.recv(10, timeout_ms=200)
        assert got == b"abcde\r"
        e = raises(OSError, c.recv, 10, timeout_ms=200)
        assert e.errno == 5 and "last 6 bytes may be wrong" in str(e), e
        got = b""
        while len(got) < 3:
            got += c.recv(10, timeout_ms=200)
        assert got == b"xyz"


def test_a_header_that_lost_its_start_is_reported():
    # "\r\n#" of a header lost on the UART: the line reads "XTCPDATA: 3" and its payload
    # goes by as a line. The connection learns that data was lost; the next frame arrives.
    stream = b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n'
    stream += b"XTCPDATA: 3\r\nabc\r\n#XTCPDATA: 3\r\nxyz"
    for chunk in SPLITS:
        modem, _ = modem_with({b'AT#XTCPCLI=1,"h",1': stream}, chunk)
        c = modem.tcp_client("h", 1)
        e = raises(OSError, c.recv, 10, timeout_ms=200)
        assert e.errno == 5, e
        got = b""
        while len(got) < 3:
            got += c.recv(10, timeout_ms=200)
        assert got == b"xyz"


def test_a_raising_callback_does_not_leave_its_command_pending():
    modem, uart = modem_with({b"AT+CFUN?": b"\r\n+CEREG: 5\r\n\r\n+CFUN: 1\r\n\r\nOK\r\n"}, 0)

    def boom(line):
        raise RuntimeError("application bug")

    modem.on("+CEREG", boom)
    raises(RuntimeError, modem.at, "AT+CFUN?")
    modem.on("+CEREG", None)
    assert modem.at("AT") == []  # not EBUSY: the failed command was given up


def test_reboot_in_data_mode_while_the_host_still_writes():
    # The modem reboots right after entering data mode. The host goes on writing its payload,
    # which now reaches the rebooted modem's command line: it answers ERROR. "Ready" followed
    # by nothing but final results is still the reboot: never data for the application.
    # (Boot noise before the banner is held only when it arrives together with the banner.)
    for chunk in SPLITS:
        modem, uart, c = tcp_in_datamode(chunk, (b"\xc0" if chunk == 0 else b"") + b"Ready\r\n", 3000)

        def on_write(d, orig=uart.write):
            n = orig(d)
            if uart.raw and not bytes(d).endswith(b"+++"):
                uart.feed(b"\r\nERROR\r\n")  # the rebooted modem's answer to payload "lines"
            return n

        uart.write = on_write
        try:
            c.send(bytes(range(256)) * 8)
        except OSError:
            pass
        else:
            raise AssertionError("the send survived a reboot")
        assert c.closed and modem.state == LINE
        try:
            got = c.recv(100, timeout_ms=100)
        except OSError:
            got = b""
        assert got == b"", got


def test_reboot_in_the_middle_of_a_frame_header():
    # The modem reboots while it writes "#XTCPDATA: 1024": the banner ends that line.
    stream = b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n' + b"\r\n#XTCPDATA: 5\r\nhello" + b"\r\n#XTCPDATA: 10Ready\r\n"
    for chunk in SPLITS:
        modem, _ = modem_with({b'AT#XTCPCLI=1,"h",1': stream}, chunk)
        c = modem.tcp_client("h", 1)
        got = b""
        while len(got) < 5:
            got += c.recv(10, timeout_ms=200)
        assert got == b"hello"
        e = raises(OSError, c.recv, 10, timeout_ms=200)
        assert e.errno == 104, e  # ModemReset, not "lost data"
        assert c.closed and modem.reboots == 2


def test_reboot_in_the_middle_of_a_datagram():
    # The modem reboots while it writes a datagram: the datagrams before it are delivered,
    # then the loss is reported (it used to look like a clean end: b"", None), and the cut
    # datagram is never handed out.
    stream = b'\r\n#XUDPCLI: 1,"connected"\r\n\r\nOK\r\n' + b'\r\n#XUDPDATA: 3,"1.2.3.4",7\r\nabc'
    stream += b'\r\n#XUDPDATA: 20,"1.2.3.4",7\r\nhello\r\nReady\r\n'
    for chunk in SPLITS:
        modem, _ = modem_with({b'AT#XUDPCLI=1,"h",7': stream}, chunk)
        u = modem.udp_client("h", 7)
        assert u.recvfrom(100, timeout_ms=200) == (b"abc", ("1.2.3.4", 7))
        e = raises(OSError, u.recvfrom, 100, timeout_ms=2000)
        assert e.errno == 5 and "reboot" in str(e), e
        assert u.closed and modem.reboots == 2
        assert u.recvfrom(100, timeout_ms=200) == (b"", None)


def test_reboot_in_the_middle_of_a_frame_read_byte_by_byte():
    # A UART that hands out one byte per read splits the banner right after its "R": that
    # "R" must be held back like a longer partial banner, or the banner reaches the
    # application as payload and the next command's reply completes the frame.
    stream = b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n' + b"\r\n#XTCPDATA: 3\r\nabc"
    stream += b"\r\n#XTCPDATA: 20\r\nhello\r\nReady\r\n"
    for chunk in SPLITS:
        modem, _ = modem_with({b'AT#XTCPCLI=1,"h",1': stream}, chunk)
        c = modem.tcp_client("h", 1)
        got = b""
        e = None
        try:
            while True:
                got += c.recv(100, timeout_ms=2000)
        except OSError as err:
            e = err
        assert e is not None and e.errno == 5 and "reboot" in str(e), e
        assert got.startswith(b"abc") and b"hello\r\n".startswith(got[3:]), got
        assert c.closed and modem.reboots == 2
        assert modem.at("AT") == []


def test_reboot_that_cuts_a_line_in_data_mode():
    # In data mode the modem reboots while it writes a line ("\r\n#XTCPDATA" at a mode
    # switch): the cut line goes with the banner, not to the application.
    for chunk in SPLITS:
        modem, uart, c = tcp_in_datamode(chunk, b"abc\r\n#XTCPDATAReady\r\n", 3000)
        try:
            c.send(b"\x00binary")
        except OSError:
            pass
        got = b""
        try:
            while True:
                got += c.recv(100, timeout_ms=1000)
        except OSError as e:
            assert e.errno == 104, e
        assert got == b"abc", got
        assert c.closed and modem.reboots == 2
