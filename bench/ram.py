"""RAM measurements, run by the MicroPython unix port (``bench/run.py`` starts them).

    micropython -X heapsize=192K bench/ram.py retained     # import, SLM + TCP client, a session
    micropython -X heapsize=192K bench/ram.py modules M..  # one module after the other
    micropython -X heapsize=<n>  bench/ram.py fits STEP    # exit status 0 if STEP fits in <n>

Retained RAM is ``gc.mem_alloc()`` after ``gc.collect()``, as a difference to the same reading
taken just before (everything the benchmark itself needs is created before that first reading).

The import peak is measured two ways. ``retained`` reads ``micropython.mem_peak()`` around an
import run with the collector off: the most the import ever held, garbage included (an upper
bound). ``fits`` serves the search in ``run.py`` for the smallest ``-X heapsize`` in which a
step still succeeds, minus the smallest in which the same script succeeds without the step:
the heap the import really needs with the collector on, fragmentation included.
"""

import gc
import sys

from memuart import MemUART

_OPEN = b'AT#XTCPCLI=1,"192.0.2.1",80'
_CONNECTED = b'\r\n#XTCPCLI: 0,"connected"\r\n\r\nOK\r\n'
_FRAME = b"\r\n#XTCPDATA: 5\r\nhello"


def result(**kw):
    import json

    print("RESULT " + json.dumps(kw))


def _uart():
    u = MemUART()
    u.reply(_OPEN, _CONNECTED)
    return u


def retained():
    u = _uart()
    import json  # noqa: F401 (loaded now, not counted below)

    import micropython

    gc.collect()
    base = gc.mem_alloc()
    # With the collector off nothing is reclaimed behind the allocator's back, so the
    # allocator's own high-water mark (MICROPY_MEM_STATS) minus its level now is the most the
    # import held at once, garbage included.
    gc.disable()
    level = micropython.mem_current()
    before = micropython.mem_peak()
    import slm_mpy

    peak = micropython.mem_peak() - level
    gc.enable()
    gc.collect()
    after_import = gc.mem_alloc() - base
    m = slm_mpy.SLM(u)
    c = m.tcp_client("192.0.2.1", 80)
    gc.collect()
    after_tcp = gc.mem_alloc() - base
    # What an application loads besides: wait_ready() and at() (control.py), a text send
    # (datamode.py), a binary send (data mode: dmrx.py), a receive.
    u.load(_FRAME)
    m.wait_ready(1000)
    m.at("AT+CFUN=1")
    c.send(b"GET / HTTP/1.0\r\n\r\n")
    c.send(b"\x00\x01binary\xff")
    got = c.recv(5, 1000)
    gc.collect()
    after_session = gc.mem_alloc() - base
    result(
        peak_no_gc=peak,
        peak_is_lower_bound=level + peak <= before,
        after_import=after_import,
        after_tcp_client=after_tcp,
        after_session=after_session,
        open=not c.closed and got == b"hello",
    )


def modules(*names):
    # The package here is a stand-in whose __init__ imports nothing, so each module costs
    # only itself (its own dependencies were imported before it).
    deltas = {}
    import slm_mpy  # noqa: F401 (the empty stand-in)

    for name in names:
        gc.collect()
        a = gc.mem_alloc()
        __import__("slm_mpy." + name)
        gc.collect()
        deltas[name] = gc.mem_alloc() - a
    result(modules=deltas)


def fits(step):
    u = _uart()
    if step == "none":
        return
    import slm_mpy

    if step == "tcp":
        slm_mpy.SLM(u).tcp_client("192.0.2.1", 80)


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "retained":
        retained()
    elif what == "modules":
        modules(*sys.argv[2:])
    else:
        fits(sys.argv[2])
