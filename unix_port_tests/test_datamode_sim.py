# slm_sim: --fw 3.1 --baud 0
# slm_sim: --fw 2.6 --baud 0 --fragment
# slm_sim: --fw 3.1 --baud 115200
# timeout: 120
"""Protocol text in the downlink while the host streams in data mode (issue 8), end to end.

The network peer (owned by the test) sends while the driver streams a long binary payload in
data mode, so SLM writes the peer's bytes raw: copies of "\\r\\n#XDATAMODE: 0\\r\\n" and
"+++" reach the driver in the middle of its own data-mode exchange. Every byte must reach
the application unchanged, and the payload the peer unchanged. The test makes sure the
copies did arrive raw (else it would prove nothing).
"""

import hashlib

from faultkit import accept, listen, noise, peer_write
from simlink import modem, pause

from slm_mpy.engine import DATAMODE

FAKE = b"\r\n#XDATAMODE: 0\r\n"


def downlink(i):
    # Binary with copies of SLM's exit line: one at the very end of what the peer writes,
    # one behind a "+++", one followed by CR LF text.
    body = bytearray(noise(100 + i, 600))
    body[10 : 10 + len(FAKE)] = FAKE
    body[200 : 205 + len(FAKE)] = b"x+++y" + FAKE
    body[400 : 406 + len(FAKE)] = FAKE + b"\r\nOK\r\n"
    return bytes(body) + FAKE


def peer_digest(sock, n, m):
    # SHA-256 of the next n bytes the peer receives (a 192 KiB heap has no room for copies).
    h = hashlib.sha256()
    for _ in range(5000):
        if n <= 0:
            break
        try:
            data = sock.read(n if n < 2048 else 2048)
        except OSError:
            data = None
        if data:
            h.update(data)
            n -= len(data)
        elif data == b"":
            break
        else:
            pause(m, 2)
    assert n == 0, "the peer is %d bytes short" % n
    return h.digest()


def test_exit_lines_from_the_peer_while_streaming():
    m = modem()
    server, port = listen()
    c = m.tcp_client("127.0.0.1", port, rx_size=8192, timeout_ms=10000)
    peer = accept(server, m)
    payload = noise(7, 12 * 1024)  # no "+++": one data-mode pass
    raw = [0]  # downlink bytes delivered in data mode
    feed = c.feed

    def counting(src, start, n):
        k = feed(src, start, n)
        if m.state == DATAMODE:
            raw[0] += k
        return k

    c.feed = counting
    written = [0]
    sent_down = []
    write_some = m.transport.write_some

    def hook(buf):
        if m.state == DATAMODE and len(sent_down) < 3 and written[0] >= 3000 * (len(sent_down) + 1):
            # The peer talks while we stream; go on once all of it came in raw.
            block = downlink(len(sent_down))
            sent_down.append(block)
            want = raw[0] + len(block)
            peer_write(peer, block, m)
            for _ in range(1000):
                if raw[0] >= want:
                    break
                pause(m, 2)
            assert raw[0] == want, "downlink did not arrive raw: %d of %d" % (raw[0], want)
        elif m.state == DATAMODE and bytes(buf) == b"+++" and len(sent_down) == 3:
            # And once more just as we leave: in flight while SLM ends data mode.
            block = downlink(3)
            sent_down.append(block[:-len(FAKE)])  # a copy right at the end would be ambiguous
            peer_write(peer, block[:-len(FAKE)], m)
        n = write_some(buf)
        if m.state == DATAMODE:
            written[0] += n
        return n

    m.transport.write_some = hook
    assert c.send(payload) == len(payload)
    m.transport.write_some = write_some
    assert len(sent_down) == 4
    expect = b"".join(sent_down)
    got = bytearray()
    buf = bytearray(2048)
    while len(got) < len(expect):
        n = c.recv_into(buf, timeout_ms=5000)
        assert n > 0, "closed after %d bytes" % len(got)
        got += memoryview(buf)[:n]
    assert bytes(got) == expect, "downlink changed"
    assert peer_digest(peer, len(payload), m) == hashlib.sha256(payload).digest(), "uplink changed"
    assert m.at("AT") == []
    c.close()
    peer.close()
    server.close()
