"""Helpers for fault scenarios against slm_sim (MicroPython): a network peer the test owns,
byte streams with a known digest, and recovery loops.

The simulator's proxies reach real loopback sockets; a peer made here lets a test decide
exactly when the network side sends, stops or closes.
"""

import hashlib
import socket
import time

from simlink import PatternStream, control, pause

ETIMEDOUT = 110
ECONNRESET = 104
EIO = 5


def raises(exc_type, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc_type as e:
        return e
    raise AssertionError("%s not raised" % exc_type.__name__)


def listen():
    """A listening loopback socket and its port (MicroPython cannot ask for the port)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    base = 40000 + (time.ticks_ms() * 7 + time.ticks_us()) % 15000
    for port in range(base, base + 3000, 13):
        try:
            s.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            s.listen(1)
            s.setblocking(False)
            return s, port
        except OSError:
            pass
    raise AssertionError("no free port")


def accept(server, m, timeout_ms=5000):
    """The connection the modem made to ``server`` (keeps the modem polled meanwhile)."""
    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < timeout_ms:
        try:
            conn, _ = server.accept()
            conn.setblocking(False)
            return conn
        except OSError:
            pause(m, 2)
    raise AssertionError("the modem did not connect")


def peer_write(sock, data, m=None):
    """Write all of ``data`` to a non-blocking peer socket, polling ``m`` while it is full."""
    mv = memoryview(data)
    off = 0
    while off < len(data):
        try:
            n = sock.write(mv[off:])
        except OSError:
            n = 0
        if n:
            off += n
        elif m is not None:
            pause(m, 1)
        else:
            time.sleep_ms(1)


def peer_read(sock, n, m, timeout_ms=10000):
    """Read ``n`` bytes from a peer socket (or fewer if it closes)."""
    out = bytearray()
    start = time.ticks_ms()
    while len(out) < n:
        try:
            chunk = sock.read(n - len(out))
        except OSError:
            chunk = None
        if chunk:
            out += chunk
        elif chunk == b"":
            break
        else:
            if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
                break
            pause(m, 1)
    return bytes(out)


def pattern(seed, kib):
    """``kib`` KiB of PatternStream (binary with protocol look-alikes) as one bytearray."""
    gen = PatternStream(seed)
    out = bytearray(kib * 1024)
    block = bytearray(1024)
    for i in range(kib):
        gen.block(i, block)
        out[i * 1024 : (i + 1) * 1024] = block
    return out


def noise(seed, n):
    """``n`` pseudo-random bytes without planted protocol look-alikes."""
    out = bytearray(n)
    d = hashlib.sha256(b"noise %d" % seed).digest()
    for k in range(0, n, 32):
        out[k : k + 32] = d[: min(32, n - k)]
        d = hashlib.sha256(d).digest()
    return out


def digest(data):
    return hashlib.sha256(data).digest()


def recover(m, timeout_ms=15000, each_ms=300):
    """Send ``AT`` until it is answered; returns the number of failed attempts.

    What an application does after a fault it cannot place: every failure is an OSError,
    and the loop ends within ``timeout_ms``.
    """
    start = time.ticks_ms()
    failures = 0
    last = None
    while True:
        try:
            m.at("AT", timeout_ms=each_ms)
            return failures
        except OSError as e:
            failures += 1
            last = e
            pause(m, 20)
        if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
            raise AssertionError(
                "modem not usable %d ms after the fault (%d attempts, last %r, parser state %d, payload sink %r, TCP proxy %r)"
                % (timeout_ms, failures, last, m.state, getattr(m, "_pay_sink", None), m.tcp)
            )


def sim_status(key):
    """One field of the simulator's status JSON for the current modem."""
    import json

    reply = control("status")
    assert reply.startswith("ok "), reply
    return json.loads(reply[3:])[key]


def fw():
    import os

    args = os.getenv("SLM_SIM_ARGS") or ""
    return "2.6" if args.find("--fw 2.6") >= 0 else "3.1"
