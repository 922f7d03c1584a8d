# MicroPython side of bench/soak.py: random operations against slm_sim, with faults.
#
#     micropython -X heapsize=192K bench/soak_mpy.py     (environment: see bench/soak.py)
#
# Every operation verifies what it received: TCP echoes byte for byte, UDP datagrams one by
# one, command replies by content. Faults go in through the simulator's control port and
# each one has an expected outcome (an OSError of a given kind, or nothing at all) and a
# recovery that must end with a verified echo. Any wrong byte, any unexpected error and any
# heap growth beyond the bound fails the run: the last line is "SOAK PASS" or
# "SOAK FAIL: <why>", the line before it "SOAK-RESULT <json>".

import gc
import json
import os
import socket
import sys
import time

from slm_mpy import SLM, ModemReset

ECONNRESET = 104
ENETUNREACH = 101
EHOSTUNREACH = 113
EIO = 5
ETIMEDOUT = 110


def env_int(name, default=None):
    v = os.getenv(name)
    if v is None:
        if default is None:
            raise SystemExit("%s is not set: run bench/soak.py" % name)
        return default
    return int(v)


SECONDS = env_int("SOAK_SECONDS", 600)
SEED = env_int("SOAK_SEED", 1)
HEAP_BOUND = env_int("SOAK_HEAP_BOUND", 8192)
FAULTS = [f for f in (os.getenv("SOAK_FAULTS") or "").split(",") if f]
SIM_PORT = env_int("SLM_SIM_PORT")
CONTROL_PORT = env_int("SLM_SIM_CONTROL_PORT")
ECHO_TCP = env_int("SLM_ECHO_TCP_PORT")
ECHO_UDP = env_int("SLM_ECHO_UDP_PORT")
PROGRESS_MS = env_int("SOAK_PROGRESS_S", 30) * 1000
FW = os.getenv("SOAK_FW") or "3.1"


class Failed(Exception):
    """A verification failed: a lost, changed or extra byte, or an unusable modem."""


class Rand:
    # xorshift32: the same sequence for the same seed on every run
    def __init__(self, seed):
        self.x = (seed * 2654435761 + 7) & 0xFFFFFFFF or 1

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def below(self, n):
        return self.next() % n

    def between(self, lo, hi):
        return lo + self.next() % (hi - lo + 1)


# Protocol look-alikes planted in "kind 2" payloads. Not "\r\n#XDATAMODE: 0\r\n": before the
# driver's "+++" it is data (unix_port_tests/test_datamode.py), but an echo of it that arrives
# after the "+++" and is followed by 10 ms of silence cannot be told from SLM's own line.
# Nor a "#XTCPDATA" header: where an echo's bytes happen to be the first raw bytes of a
# data-mode send, a header there is taken for a frame SLM wrote just before it switched (a real
# race in the protocol). The fuzz tests cover fake headers in ordinary frames.
PLANTS = (b"+++", b"\r\nOK\r\n", b"Ready\r\n", b'"', b"++", b"\r\nERROR\r\n", b"\r\n+CEREG: 1\r\n")


def fill(r, buf, n, kind):
    """Put ``n`` bytes of the given kind into ``buf``: 0 text, 1 binary, 2 binary + look-alikes."""
    if kind == 0:
        for i in range(n):
            c = 32 + r.below(95)
            buf[i] = c if c != 34 else 33
        return
    for i in range(0, n, 4):
        x = r.next()
        k = n - i if n - i < 4 else 4
        for j in range(k):
            buf[i + j] = (x >> (8 * j)) & 255
    if kind == 2 and n > 40:
        for _ in range(1 + n // 700):
            p = PLANTS[r.below(len(PLANTS))]
            at = r.below(n - len(p))
            buf[at : at + len(p)] = p


def defuse(buf, n):
    # A binary UDP datagram cannot carry "+++" through SLM's data mode (the driver refuses).
    i = buf.find(b"+++", 0, n)
    while i >= 0:
        buf[i + 1] = 45  # '-'
        i = buf.find(b"+++", i, n)


def control(cmd):
    s = socket.socket()
    s.connect(socket.getaddrinfo("127.0.0.1", CONTROL_PORT)[0][-1])
    s.write(cmd.encode() + b"\n")
    reply = s.readline().decode().strip()
    s.close()
    if not reply.startswith("ok"):
        raise Failed("control %r -> %r" % (cmd, reply))
    return reply


def _suspect(e):
    # "... last <n> bytes may be wrong" -> n; 0 for any other error.
    text = str(e)
    i = text.find("last ")
    if i < 0:
        return 0
    j = text.find(" ", i + 5)
    try:
        return int(text[i + 5 : j])
    except ValueError:
        return 0


def _first_diff(back, out, off, k):
    for i in range(k):
        if back[i] != out[off + i]:
            return i
    return k


class Soak:
    def __init__(self):
        self.r = Rand(SEED)
        self.out = bytearray(8192)  # what we send (and expect back)
        self.back = bytearray(2048)  # what we read
        self.stats = {
            "ops": 0, "tcp_echoes": 0, "udp_datagrams": 0, "commands": 0, "reconnects": 0,
            "bytes_verified": 0, "faults_injected": 0, "faults_survived": 0,
            "errors_expected": 0, "recoveries_failed_attempts": 0,
        }
        self.fault_counts = {}
        self.heap_early = []
        self.heap_late = [0] * 41
        self.heap_late_n = 0
        self.heap_peak = 0  # gc.mem_alloc() high-water before collection, sampled per op
        self.heap_retained_max = 0  # after gc.collect(), sampled per op
        self.cereg = []
        self.m = None
        self.tcp = None
        self.udp = None
        self.start = time.ticks_ms()

    # --- link

    def connect(self):
        s = socket.socket()
        s.connect(socket.getaddrinfo("127.0.0.1", SIM_PORT)[0][-1])
        s.setblocking(False)
        self.m = SLM(s)
        self.m.on("+CEREG", self.on_cereg)
        self.reattach()

    def on_cereg(self, line):
        if len(self.cereg) > 8:
            self.cereg.pop(0)
        self.cereg.append(line)

    def reattach(self):
        """After a reboot: wait for the banner, get commands answered, register again.

        Bytes the host sent into the rebooting modem may have left its command line in a
        quoted state, so the first commands can fail; the application simply tries again.
        """
        try:
            self.m.wait_ready(10000)
        except OSError:
            pass
        self.answers()
        self.attach()

    def answers(self):
        m = self.m
        start = time.ticks_ms()
        last = None
        while True:
            try:
                m.at("AT", timeout_ms=500)
                return
            except OSError as e:
                last = e
                self.stats["recoveries_failed_attempts"] += 1
                if time.ticks_diff(time.ticks_ms(), start) > 20000:
                    st = json.loads(control("status")[3:])
                    raise Failed("modem unusable 20 s after a fault (last %r, parser state %d; simulator mode %s, data-mode buffer %s)" % (
                        last, m.state, st.get("mode"), st.get("datactrl", {}).get("buffered")))
                m.transport.wait(20)

    def attach(self):
        m = self.m
        m.at("AT+CEREG=1")
        m.at("AT+CFUN=1")
        start = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), start) < 10000:
            lines = m.at("AT+CEREG?")
            if lines and lines[-1].split(",")[1] in ("1", "5"):
                return
            self.idle(50)
        raise Failed("modem did not register")

    def idle(self, ms):
        m = self.m
        start = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), start) < ms:
            m.poll()
            m.transport.wait(5)

    def open_tcp(self):
        if self.tcp is None or self.tcp.closed:
            self.drop_tcp()
            self.tcp = self.m.tcp_client("127.0.0.1", ECHO_TCP, rx_size=4096, timeout_ms=10000)
            self.stats["reconnects"] += 1
        return self.tcp

    def open_udp(self):
        if self.udp is None or self.udp.closed:
            self.drop_udp()
            self.udp = self.m.udp_client("127.0.0.1", ECHO_UDP, timeout_ms=10000)
            self.stats["reconnects"] += 1
        return self.udp

    def drop_tcp(self):
        c, self.tcp = self.tcp, None
        if c is not None:
            try:
                c.close()
            except OSError:
                pass

    def drop_udp(self):
        u, self.udp = self.udp, None
        if u is not None:
            try:
                u.close()
            except OSError:
                pass

    # --- operations (no fault: every OSError is a failure)

    def tcp_echo(self, n=None, kind=None):
        """Send n bytes through the echo peer and read them back; returns bytes verified."""
        r = self.r
        c = self.open_tcp()
        if n is None:
            n = r.between(1, 8192) if r.below(4) else r.between(1, 64)
        if kind is None:
            kind = r.below(3)
        out = self.out
        fill(r, out, n, kind)
        mv = memoryview(out)
        back = self.back
        sent = got = 0
        while got < n:
            # At most 3 KiB in flight: the echo returns while we send and nobody reads then.
            if sent < n and sent - got < 3072:
                piece = min(n - sent, 1024, 3072 - (sent - got))
                c.send(mv[sent : sent + piece])
                sent += piece
                continue
            k = c.recv_into(back, timeout_ms=10000)
            if not k:
                raise Failed("TCP echo closed after %d of %d bytes" % (got, n))
            if back[:k] != out[got : got + k]:
                i = 0
                while back[i] == out[got + i]:
                    i += 1
                raise Failed("TCP echo of %d bytes (kind %d): wrong byte at offset %d: got %r, sent %r" % (
                    n, kind, got + i, bytes(back[max(0, i - 8) : i + 24]), bytes(out[got + max(0, i - 8) : got + i + 24])))
            got += k
        if c.available():
            raise Failed("TCP echo: %d bytes more than were sent" % c.available())
        self.stats["tcp_echoes"] += 1
        self.stats["bytes_verified"] += n
        return n

    def udp_burst(self):
        """1..3 datagrams out, then each echo back, whole and in order.

        Binary datagrams go through SLM's data mode, where downlink arrives raw: an echo that
        comes back during it has no frame, and two such echoes cannot be told apart. So a
        burst is text (quoted-string sends) or one binary datagram at a time.
        """
        r = self.r
        u = self.open_udp()
        binary = r.below(2)
        sent = []
        for _ in range(1 if binary else r.between(1, 3)):
            n = r.between(1, 1200 if binary else 1024)  # text over 1024 B needs data mode too
            fill(r, self.out, n, binary)
            defuse(self.out, n)
            u.send(memoryview(self.out)[:n])
            sent.append(bytes(self.out[:n]))
        for d in sent:
            data = u.recv(2048, timeout_ms=10000)
            if data != d:
                where = data.find(d)
                raise Failed("UDP datagram of %d bytes (%s) came back as %d different bytes (it is at %d in them; %d sent in this burst)" % (
                    len(d), "binary" if binary else "text", len(data), where, len(sent)))
            self.stats["udp_datagrams"] += 1
            self.stats["bytes_verified"] += len(d)

    def command(self):
        m = self.m
        k = self.r.below(3)
        if k == 0:
            ok = m.at("AT+CGMI") == ["Nordic Semiconductor ASA"]
        elif k == 1:
            ok = m.at("AT#XSLMVER")[0].startswith("#XSLMVER:")
        else:
            ok = m.at("AT+CFUN?") == ["+CFUN: 1"]
        if not ok:
            raise Failed("wrong reply to a command")
        self.stats["commands"] += 1

    def reconnect(self):
        if self.r.below(2):
            self.drop_tcp()
            self.open_tcp()
        else:
            self.drop_udp()
            self.open_udp()

    # --- faults: each checks its own outcome, then recovers

    def expect_error(self, fn, errnos=None):
        try:
            fn()
        except OSError as e:
            if errnos is not None and e.errno not in errnos:
                raise Failed("%s: error %r, expected one of %r" % (fn, e, errnos))
            self.stats["errors_expected"] += 1
            return e
        return None

    def drain(self, c, sent_total, ms=3000):
        """Read a broken connection until it reports its end (error or EOF, within ``ms``).

        What it still hands out must be a prefix of what we sent. A timeout alone is not an
        end: the driver may wait for a quiet line before it calls a banner a reboot.
        """
        got = 0
        wrong_at = -1  # the first byte that differs from what was sent
        start = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), start) < ms:
            try:
                k = c.recv_into(self.back, timeout_ms=300)
            except OSError as e:
                if e.errno == ETIMEDOUT:
                    continue
                # After a lost byte the driver names how many bytes before its error are
                # suspect: only those may differ.
                suspect = _suspect(e)
                if wrong_at >= 0 and wrong_at < got - suspect:
                    raise Failed("byte %d wrong, but the error blames only the last %d of %d" % (wrong_at, suspect, got))
                self.stats["errors_expected"] += 1
                return got
            if not k:
                break
            if got + k > sent_total:
                raise Failed("received more bytes than were sent (offset %d)" % got)
            if wrong_at < 0 and self.back[:k] != self.out[got : got + k]:
                wrong_at = got + _first_diff(self.back, self.out, got, k)
                self.wrong = (bytes(self.back[: min(k, 24)]), bytes(self.out[got : got + 24]), k)
            got += k
        if wrong_at >= 0:
            raise Failed("received bytes that were never sent (offset %d), no error: got %r sent %r (%d in that read)" % ((wrong_at,) + self.wrong))
        return got

    def fault_reboot(self):
        c = self.open_tcp()
        control("reboot")
        e = self.expect_error(lambda: c.recv(10, timeout_ms=5000))
        if not isinstance(e, ModemReset):
            raise Failed("reboot reported as %r" % (e,))
        self.reattach()

    def fault_reboot_command(self):
        control("reboot-after-rx %d" % self.r.between(1, 8))
        e = self.expect_error(lambda: self.m.at("AT+CFUN?", timeout_ms=5000))
        if not isinstance(e, ModemReset):
            raise Failed("reboot during a command reported as %r" % (e,))
        self.reattach()

    def fault_reboot_receive(self):
        c = self.open_tcp()
        n = 3072
        fill(self.r, self.out, n, 1)
        c.send(memoryview(self.out)[:1024])  # echo of it: the arm below is for the next part
        self.drain_exact(c, 1024)
        control("reboot-after-tx %d" % self.r.between(40, 1500))
        try:
            c.send(memoryview(self.out)[:n])
        except OSError:
            self.stats["errors_expected"] += 1
        self.drain(c, n)
        if not c.closed:
            raise Failed("connection still open after a reboot mid-receive")
        self.reattach()

    def drain_exact(self, c, n):
        got = 0
        while got < n:
            k = c.recv_into(self.back, timeout_ms=10000)
            if not k or self.back[:k] != self.out[got : got + k]:
                raise Failed("echo mismatch")
            got += k

    def fault_reboot_send(self):
        c = self.open_tcp()
        n = 8192
        fill(self.r, self.out, n, 1)
        control("reboot-after-rx %d" % (13 + self.r.between(1, 4000)))
        self.expect_error(lambda: c.send(self.out))
        self.drain(c, n)
        if not c.closed:
            raise Failed("connection still open after a reboot mid-send")
        self.reattach()

    def fault_peer_close(self):
        c = self.open_tcp()
        self.tcp_echo(self.r.between(1, 2048))
        control("peer-close")
        start = time.ticks_ms()
        while not c.closed and time.ticks_diff(time.ticks_ms(), start) < 5000:
            self.idle(5)
        if not c.closed or c.recv(10, timeout_ms=100) != b"":
            raise Failed("peer close not seen")
        self.open_tcp()  # reconnect (3.1 needs AT#XTCPCLI=0 first: the driver does it)

    def fault_outage(self):
        self.drop_tcp()
        control("cereg 0")
        start = time.ticks_ms()
        while not (self.cereg and self.cereg[-1].startswith("+CEREG: 0")):
            self.idle(5)
            if time.ticks_diff(time.ticks_ms(), start) > 5000:
                raise Failed("+CEREG: 0 not seen")
        e = self.expect_error(self.open_tcp, (ENETUNREACH, EHOSTUNREACH))
        if e is None:
            raise Failed("connected while not registered")
        control("cereg 1")
        start = time.ticks_ms()
        while not self.cereg[-1].startswith("+CEREG: 1"):
            self.idle(5)
            if time.ticks_diff(time.ticks_ms(), start) > 5000:
                raise Failed("+CEREG: 1 not seen")

    def fault_stall(self):
        control("stall %d" % self.r.between(50, 600))
        self.tcp_echo(self.r.between(1000, 6000))  # slower, never wrong

    def fault_drop(self):
        c = self.open_tcp()
        n = 4096
        fill(self.r, self.out, n, 1)
        control("drop-bytes %d" % self.r.between(1, 3))
        try:
            c.send(memoryview(self.out)[:n], timeout_ms=3000)
        except OSError:
            self.stats["errors_expected"] += 1
        self.drain(c, n)
        # The armed loss may still be pending: let command replies take it.
        while '"drop_next": 0' not in control("status"):
            try:
                self.m.at("AT", timeout_ms=300)
            except OSError:
                pass
        # Even a complete echo may be followed by a loss report (a lost CR after a frame
        # looks the same as a lost payload byte), on either connection. Start afresh.
        self.drop_tcp()
        self.drop_udp()

    def recover(self):
        """After a fault: the modem answers, and a fresh echo is intact."""
        m = self.m
        self.answers()
        try:
            m.at("AT+CFUN?", timeout_ms=2000)
        except OSError:
            pass
        if self.tcp is not None and self.tcp.closed:
            self.drop_tcp()
        if self.udp is not None and self.udp.closed:
            self.drop_udp()
        self.tcp_echo(1024, 2)

    # --- bookkeeping

    def sample_heap(self):
        before = gc.mem_alloc()
        gc.collect()
        after = gc.mem_alloc()
        if before > self.heap_peak:
            self.heap_peak = before
        if after > self.heap_retained_max:
            self.heap_retained_max = after
        ops = self.stats["ops"]
        if 20 <= ops < 61:
            self.heap_early.append(after)
        self.heap_late[self.heap_late_n % 41] = after
        self.heap_late_n += 1

    def figures(self):
        s = dict(self.stats)
        s["seconds"] = time.ticks_diff(time.ticks_ms(), self.start) // 1000
        s["faults"] = self.fault_counts
        s["heap_peak"] = self.heap_peak
        s["heap_retained_max"] = self.heap_retained_max
        early = sorted(self.heap_early)
        late = sorted(self.heap_late[: min(self.heap_late_n, 41)])
        s["heap_early_median"] = early[len(early) // 2] if early else 0
        s["heap_late_median"] = late[len(late) // 2] if late else 0
        s["heap_bound"] = HEAP_BOUND
        m = self.m
        s["engine"] = {
            "reboots": m.reboots, "garbage_lines": m.garbage_lines, "overlong_lines": m.overlong_lines,
            "stray_results": m.stray_results, "orphan_bytes": m.orphan_bytes,
        }
        return s

    def run(self):
        self.connect()
        ops = (
            (self.tcp_echo, 8), (self.udp_burst, 4), (self.command, 2), (self.reconnect, 1),
        )
        weights = sum(w for _, w in ops)
        faults = [getattr(self, "fault_" + f.replace("-", "_")) for f in FAULTS]
        deadline = time.ticks_add(self.start, SECONDS * 1000)
        next_progress = time.ticks_add(self.start, PROGRESS_MS)
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            r = self.r
            if faults and r.below(12) == 0:
                i = r.below(len(faults))
                name = FAULTS[i]
                self.stats["faults_injected"] += 1
                self.fault_counts[name] = self.fault_counts.get(name, 0) + 1
                try:
                    faults[i]()
                    self.recover()
                except Failed as e:
                    raise Failed("%s (fault %s)" % (e, name))
                self.stats["faults_survived"] += 1
            else:
                pick = r.below(weights)
                for fn, w in ops:
                    if pick < w:
                        fn()
                        break
                    pick -= w
            self.stats["ops"] += 1
            self.sample_heap()
            if time.ticks_diff(time.ticks_ms(), next_progress) >= 0:
                next_progress = time.ticks_add(next_progress, PROGRESS_MS)
                f = self.figures()
                print("t=%ds ops=%d verified=%d B faults=%d/%d heap peak=%d retained=%d" % (
                    f["seconds"], f["ops"], f["bytes_verified"], f["faults_survived"], f["faults_injected"],
                    f["heap_peak"], f["heap_late_median"]))
        f = self.figures()
        growth = f["heap_late_median"] - f["heap_early_median"]
        if growth > HEAP_BOUND:
            raise Failed("heap grew by %d bytes (bound %d)" % (growth, HEAP_BOUND))


def main():
    soak = Soak()
    verdict = "SOAK PASS"
    try:
        soak.run()
    except Failed as e:
        verdict = "SOAK FAIL: %s" % e
    except OSError as e:
        sys.print_exception(e)
        verdict = "SOAK FAIL: unexpected error %r" % (e,)
    except Exception as e:  # noqa: BLE001 - anything else is a driver bug
        sys.print_exception(e)
        verdict = "SOAK FAIL: undocumented exception %r" % (e,)
    try:
        figures = soak.figures() if soak.m is not None else {}
    except Exception:
        figures = {}
    figures["verdict"] = verdict
    figures["fw"] = FW
    print("SOAK-RESULT " + json.dumps(figures))
    print(verdict)
    sys.exit(0 if verdict == "SOAK PASS" else 1)


main()
