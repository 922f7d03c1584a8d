"""A line cut by the end of the receive buffer must survive the buffer's compaction.

Found by bench/run.py: when the engine moves a partial line to the front of the buffer,
Engine._scan still points where the LF search stopped before the move, so the search skips
the line's LF and the line is merged with the next one (lost URCs, unreadable #XUDPDATA
headers and a failed recv).
"""

from mockuart import MockUART

from slm_mpy import SLM

URC = b'\r\n+CEREG: 1,"1285","02EF8210",7\r\n'


def _dispatched(chunk):
    uart = MockUART(chunk=chunk)
    uart.feed(URC * 200)
    modem = SLM(uart)
    seen = []
    modem.on("+CEREG", seen.append)
    for _ in range(2000):
        modem.poll()
    return seen, modem


def test_every_urc_of_a_burst_arrives_intact():
    for chunk in (0, 100, 7):
        seen, modem = _dispatched(chunk)
        bad = [line for line in seen if line != '+CEREG: 1,"1285","02EF8210",7']
        assert len(seen) == 200 and not bad, "reads of %d: %d of 200 URCs, %d malformed, %d overlong" % (
            chunk,
            len(seen),
            len(bad),
            modem.overlong_lines,
        )
