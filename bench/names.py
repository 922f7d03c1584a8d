"""Where the RAM of bench/ram.py's figures goes, in a process of its own (run by ``bench/run.py``).

    micropython -X heapsize=192K bench/names.py reserve       # room left in the interned-name pool
    micropython -X heapsize=192K bench/names.py overhead 100  # a class of 100 trivial methods

Kept out of ``ram.py`` on purpose: interned names (qstrs) live in pools that double in size,
so every name the measuring script itself adds moves the place where the driver's import
opens a new pool, and with it ``ram.py``'s figures by up to a pool (several KB).
"""

import gc
import sys

from ram import _uart, result


def reserve():
    # Interned names (qstrs) live in pools that double in size; a module whose names overflow
    # the newest pool pays for the next one, mostly empty. Count how many new names still fit
    # after the TCP-client path before the heap grows by a pool again, and by how much.
    u = _uart()
    import slm_mpy

    m = slm_mpy.SLM(u)
    m.tcp_client("192.0.2.1", 80)
    names = ["zq%04d" % i for i in range(1000)]  # made now: only interning them counts below
    gc.collect()
    last = gc.mem_alloc()
    for i, name in enumerate(names):
        hasattr(m, name)  # looking an attribute up interns its name
        gc.collect()
        now = gc.mem_alloc()
        if now - last > 1024:
            result(qstr_free_slots=i, qstr_pool_step=now - last)
            return
        last = now
    result(qstr_free_slots=len(names), qstr_pool_step=0)


def overhead(n="100"):
    # What a function costs before its body: a class of n methods that only return their
    # argument (a raw code object, its bytecode, a function object, a class dict slot each).
    # Their names are interned before the first reading, so they are not counted.
    n = int(n)
    src = "class C:\n    pass\n" + "".join("    def f%d(self, a):\n        return a\n" % i for i in range(n))
    scope = {}
    for i in range(n):
        hasattr(scope, "f%d" % i)  # intern the names first: count the functions, not their names
    gc.collect()
    base = gc.mem_alloc()
    exec(src, scope)
    del src
    gc.collect()
    result(methods=n, retained=gc.mem_alloc() - base, alive="C" in scope)


if __name__ == "__main__":
    if sys.argv[1] == "reserve":
        reserve()
    else:
        overhead(*sys.argv[2:])
