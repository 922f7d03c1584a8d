# slm_sim: --fw 3.1
# slm_sim: --fw 2.6 --baud 0
# slm_sim: --fw 3.1 --baud 0 --fragment --interleave-urcs
# timeout: 180
"""slm_mpy.aio against slm_sim: tasks that await the modem make progress side by side.

The first simulator line paces its UART at 115200 baud like the real link, so a 64 KiB
transfer takes seconds and concurrency is visible; the others run unpaced, the last one with
the modem's output cut into random small pieces and URCs slipped in between replies.
"""

import asyncio
import hashlib
import time

import simlink

from slm_mpy.aio import AsyncSLM
from slm_mpy.errors import EBUSY, ETIMEDOUT

TOTAL = 64 * 1024


def text_block(i):
    # 1 KiB of printable text without quotes: goes as AT#XTCPSEND="..." (no data mode)
    line = b"block %05d " % i
    body = bytearray(1024)
    for k in range(1024):
        body[k] = 33 + (i * 7 + k) % 90 if (i * 7 + k) % 90 != 1 else 65  # skip '"' (34)
    body[0 : len(line)] = line
    return bytes(body)


def echo(name):
    return "127.0.0.1", simlink.env_port(name)


async def test_udp_heartbeat_keeps_going_during_a_64k_tcp_echo():
    am = AsyncSLM(simlink.modem(), poll_ms=2)
    tcp = await am.tcp_client(*echo("SLM_ECHO_TCP_PORT"))
    udp = await am.udp_client(*echo("SLM_ECHO_UDP_PORT"))
    state = {"sent": 0, "received": 0, "done": False}
    beats = []  # TCP bytes received when each heartbeat came back

    async def upload():
        for i in range(TOTAL // 1024):
            state["sent"] += await tcp.send(text_block(i))

    async def download():
        digest = hashlib.sha256()
        buf = bytearray(1024)
        while state["received"] < TOTAL:
            n = await tcp.recv_into(buf, timeout_ms=20000)
            assert n, "peer closed early"
            digest.update(memoryview(buf)[:n])
            state["received"] += n
        state["done"] = True
        return digest.digest()

    async def heartbeat():
        i = 0
        while not state["done"]:
            i += 1
            ping = b"heartbeat %d" % i
            await udp.send(ping)
            assert await udp.recv(100, timeout_ms=5000) == ping
            beats.append(state["received"])
            await asyncio.sleep_ms(10)

    t0 = time.ticks_ms()
    up = asyncio.create_task(upload())
    hb = asyncio.create_task(heartbeat())
    got = await download()
    await up
    await hb
    elapsed = time.ticks_diff(time.ticks_ms(), t0)
    expect = hashlib.sha256()
    for i in range(TOTAL // 1024):
        expect.update(text_block(i))
    assert got == expect.digest(), "echo differs"
    assert state["sent"] == TOTAL
    during = [b for b in beats if 0 < b < TOTAL]
    print("64 KiB echo in %d ms; %d heartbeats, %d of them during the transfer, at %d distinct points"
          % (elapsed, len(beats), len(during), len(set(during))))
    # Both made progress together: heartbeats completed at many stages of the transfer.
    assert len(set(during)) >= 5, beats
    await tcp.close()
    await udp.close()
    assert tcp.closed and udp.closed


async def test_datamode_send_lets_other_tasks_run():
    am = AsyncSLM(simlink.modem(), poll_ms=2)
    tcp = await am.tcp_client(*echo("SLM_ECHO_TCP_PORT"))
    # Binary with '+++' runs: data mode, cut around every run.
    blob = bytearray()
    for i in range(16):
        blob += bytes((i * 31 + k) & 255 for k in range(500))
        blob += b"+++" if i % 2 else b"++++ \r\nOK\r\n"
    blob = bytes(blob)
    ticks = [0, 0]  # runs, longest gap in ms
    busy = [True]

    async def ticker():
        last = time.ticks_ms()
        while busy[0]:
            await asyncio.sleep_ms(1)
            now = time.ticks_ms()
            ticks[0] += 1
            ticks[1] = max(ticks[1], time.ticks_diff(now, last))
            last = now

    async def reader():
        out = bytearray(len(blob))  # preallocated: 192 KiB of heap fragments quickly
        mv = memoryview(out)
        got = 0
        while got < len(blob):
            got += await tcp.recv_into(mv[got:], timeout_ms=20000)
        return out

    tick = asyncio.create_task(ticker())
    rd = asyncio.create_task(reader())
    t0 = time.ticks_ms()
    assert await tcp.send(blob) == len(blob)
    elapsed = time.ticks_diff(time.ticks_ms(), t0)
    got = await rd
    busy[0] = False
    await tick
    assert got == blob
    print("sent %d bytes in %d ms; the ticker ran %d times, longest gap %d ms" % (len(blob), elapsed, ticks[0], ticks[1]))
    assert ticks[0] >= 10, ticks
    assert ticks[1] < 200, ticks  # never blocked for the whole transfer
    await tcp.close()


async def test_commands_urcs_and_limits_while_a_receive_waits():
    modem = simlink.modem()
    am = AsyncSLM(modem)
    seen = []
    modem.on("+CEREG", seen.append)
    poller = asyncio.create_task(am.poll_forever(10))
    tcp = await am.tcp_client(*echo("SLM_ECHO_TCP_PORT"))

    async def read_exactly(n):
        got = b""
        while len(got) < n:  # the echo may come back in pieces
            got += await tcp.recv(n - len(got), timeout_ms=5000)
        return got

    async def waiting_reader():
        return await read_exactly(7)

    rd = asyncio.create_task(waiting_reader())
    await asyncio.sleep_ms(20)
    # a command while another task waits for data
    assert (await am.at("AT+CFUN?")) == ["+CFUN: 1"]
    # a URC while nobody runs a command: poll_forever dispatches it
    assert simlink.control("cereg 5") == "ok"
    for _ in range(200):
        if [u for u in seen if u.startswith("+CEREG: 5")]:
            break
        await asyncio.sleep_ms(10)
    assert [u for u in seen if u.startswith("+CEREG: 5")], seen  # (--interleave-urcs adds others)
    # SLM's limit: one TCP connection
    try:
        await am.tcp_client(*echo("SLM_ECHO_TCP_PORT"))
    except OSError as e:
        assert e.errno == EBUSY, e
    else:
        raise AssertionError("second TCP connection allowed")
    await tcp.send(b"wake up")
    assert await rd == b"wake up"
    # a receive timeout is OSError(ETIMEDOUT)
    try:
        await tcp.recv(10, timeout_ms=50)
    except OSError as e:
        assert e.errno == ETIMEDOUT
    else:
        raise AssertionError("no timeout")
    # a command cancelled half-way leaves the modem usable
    task = asyncio.create_task(am.at("AT+CFUN?"))
    await asyncio.sleep_ms(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert (await am.at("AT+CFUN?")) == ["+CFUN: 1"]
    await tcp.send(b"still there")
    assert await read_exactly(11) == b"still there"
    await tcp.close()
    poller.cancel()


async def test_bad_arguments_fail_at_once_and_close_can_be_repeated():
    # Bad input to the async API: ValueError before anything waits or reaches the UART; a
    # close() refused because a command is pending leaves the connection open, and the
    # close after it really stops the proxy.
    modem = simlink.modem()
    am = AsyncSLM(modem)
    tcp = await am.tcp_client(*echo("SLM_ECHO_TCP_PORT"))
    calls = (
        lambda: am.at(None),
        lambda: tcp.send(None),
        lambda: tcp.send([1, 2]),
        lambda: tcp.send(b"x", timeout_ms="soon"),
        lambda: tcp.recv(-1),
        lambda: tcp.recv(10, timeout_ms="soon"),
        lambda: tcp.recv_into(b"immutable"),
        lambda: tcp.recv_into(None),
    )
    for i, call in enumerate(calls):
        start = time.ticks_ms()
        try:
            await call()
        except ValueError:
            pass
        else:
            raise AssertionError("call %d: no ValueError" % i)
        assert time.ticks_diff(time.ticks_ms(), start) < 100, "call %d waited" % i
    modem.begin("AT+CFUN?")  # a command pending: the close must be refused...
    try:
        await tcp.close()
    except OSError as e:
        assert e.errno == EBUSY, e
    else:
        raise AssertionError("close() with a command pending")
    while modem.finish() is None:
        modem.poll()
    assert not tcp.closed
    await tcp.close()  # ...and go through now
    assert tcp.closed
    assert (await am.at("AT#XTCPCLI?"))[0].startswith("#XTCPCLI: -1"), "the proxy is still open"
