"""asyncio: a UDP heartbeat keeps going while a TCP echo of 64 KiB runs in other tasks.

Both connections go through the modem at the same time (SLM runs one TCP and one UDP
proxy). Needs TCP and UDP echo servers: set ECHO_HOST, ECHO_TCP_PORT and ECHO_UDP_PORT
below for a board. Unix port (or CPython) against the simulator and its echo peers::

    SLM_SIM_PORT=<sim port> ECHO_HOST=127.0.0.1 ECHO_TCP_PORT=<p> ECHO_UDP_PORT=<q> \\
    MICROPYPATH=<repo>:.frozen micropython examples/aio_heartbeat.py
"""

import asyncio
import hashlib

from modem_setup import open_modem, setting
from slm_mpy.aio import AsyncSLM
from slm_mpy.compat import ticks_diff, ticks_ms

HOST = setting("ECHO_HOST", "192.0.2.1")
TCP_PORT = int(setting("ECHO_TCP_PORT", "7"))
UDP_PORT = int(setting("ECHO_UDP_PORT", "7"))
TOTAL = int(setting("ECHO_BYTES", "65536"))


def block(i):
    # 1 KiB of text (no quotes), so each piece goes as AT#XTCPSEND="..."
    return bytes(48 + (i + k) % 43 for k in range(1024))


async def main():
    am = AsyncSLM(open_modem())
    tcp = await am.tcp_client(HOST, TCP_PORT)
    udp = await am.udp_client(HOST, UDP_PORT)
    progress = {"received": 0, "beats": 0, "beats_during": 0}

    async def upload():
        for i in range(TOTAL // 1024):
            await tcp.send(block(i))

    async def download():
        digest = hashlib.sha256()
        buf = bytearray(1024)
        while progress["received"] < TOTAL:
            n = await tcp.recv_into(buf, timeout_ms=30000)
            if not n:
                raise OSError(104, "echo server closed the connection")
            digest.update(memoryview(buf)[:n])
            progress["received"] += n
        return digest.digest()

    async def heartbeat():
        i = 0
        while progress["received"] < TOTAL:
            i += 1
            await udp.send(b"heartbeat %d" % i)
            reply = await udp.recv(64, timeout_ms=5000)
            assert reply == b"heartbeat %d" % i, reply
            progress["beats"] += 1
            if 0 < progress["received"] < TOTAL:
                progress["beats_during"] += 1
            await asyncio.sleep(0.01)

    start = ticks_ms()
    tasks = [asyncio.create_task(upload()), asyncio.create_task(heartbeat())]
    echoed = await download()
    for t in tasks:
        await t
    ms = ticks_diff(ticks_ms(), start)
    sent = hashlib.sha256()
    for i in range(TOTAL // 1024):
        sent.update(block(i))
    print("echoed %d bytes in %d ms, %s" % (TOTAL, ms, "intact" if echoed == sent.digest() else "CORRUPTED"))
    print("heartbeats: %d, %d of them during the transfer" % (progress["beats"], progress["beats_during"]))
    await tcp.close()
    await udp.close()


asyncio.run(main())
