"""Connect the driver (running in the unix port) to slm_sim and to loopback peers.

A TCP connection to ``SLM_SIM_PORT`` is the UART of a freshly booted simulated modem.
"""

import os
import socket

from slm_mpy import SLM


def env_port(name):
    value = os.getenv(name)
    if not value:
        raise AssertionError("%s is not set: run this module through pytest" % name)
    return int(value)


def open_socket(port, host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.connect(socket.getaddrinfo(host, port, family)[0][-1])
    if port == env_port_or_none("SLM_SIM_PORT"):
        # The simulated UART: no Nagle delay, or a "+++" written after a short piece would
        # reach the modem after its flush timer instead of right behind the data.
        s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY
    s.setblocking(False)
    return s


def env_port_or_none(name):
    value = os.getenv(name)
    return int(value) if value else None


def modem(**kw):
    """A ready, attached modem on a fresh simulator connection."""
    m = SLM(open_socket(env_port("SLM_SIM_PORT")), **kw)
    m.wait_ready(5000)
    attach(m)
    return m


def attach(m, timeout_ms=5000):
    """AT+CFUN=1 and wait until +CEREG reports home (1) or roaming (5) registration."""
    m.at("AT+CEREG=1")
    m.at("AT+CFUN=1")
    import time

    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < timeout_ms:
        # A +CEREG URC may arrive among the reply lines; the reply is the last line.
        stat = int(m.at("AT+CEREG?")[-1].split(",")[1])
        if stat in (1, 5):
            return
        pause(m, 50)
    raise AssertionError("modem did not register")


def pause(m, ms):
    """Keep the modem polled for ``ms`` milliseconds."""
    import time

    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < ms:
        m.poll()
        m.transport.wait(5)


def control(command):
    """Send one line to the simulator's control port; returns its reply line."""
    s = socket.socket()
    s.connect(socket.getaddrinfo("127.0.0.1", env_port("SLM_SIM_CONTROL_PORT"))[0][-1])
    s.write(command.encode() + b"\n")
    reply = s.readline()
    s.close()
    return reply.decode().strip()


class PatternStream:
    """A reproducible binary stream with protocol look-alikes planted in it.

    Blocks of 1 KiB: SHA-256 based bytes; every 8th block carries ``+++`` runs, quotes,
    ``\\r\\nOK\\r\\n``, a fake ``#XTCPDATA`` header and ``#XDATAMODE``-free CR/LF text.
    """

    PLANTS = (b"+++", b'"', b"\r\nOK\r\n", b"\r\n#XTCPDATA: 5\r\n", b"++++++++", b"\r\nERROR\r\n", b"Ready\r\n")

    def __init__(self, seed):
        self.seed = seed

    def block(self, i, out):
        import hashlib

        d = hashlib.sha256(b"%d:%d" % (self.seed, i)).digest()
        for k in range(0, 1024, 32):
            out[k : k + 32] = d
            d = hashlib.sha256(d).digest()
        if i % 8 == 0:
            at = (i * 37) % 900
            for p in self.PLANTS:
                out[at : at + len(p)] = p
                at += len(p) + 3
        return out
