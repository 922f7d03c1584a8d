"""The benchmark harness itself (bench/): what the budget tests stand on.

The budgets (tests/test_budget_*.py) compare bytes allocated by the driver with fixed limits.
That only means something if the fake UART the benchmarks feed the driver with allocates
nothing itself, so that is proven here twice: with ``gc.mem_alloc`` deltas and under
``micropython.heap_lock()`` (which also catches allocations that are freed again at once).
Each check runs ``bench/cases.py`` or ``bench/ram.py`` in a fresh ``micropython -X
heapsize=192K`` process through the functions of ``bench/run.py``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The directory holding the slm_mpy package to measure: this checkout, unless
# SLM_BENCH_DRIVER names another one (to try a change before it lands).
DRIVER = Path(os.environ.get("SLM_BENCH_DRIVER") or ROOT).resolve()


def load_bench() -> ModuleType:
    """bench/run.py as a module (bench/ is a directory of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("slm_bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = load_bench()


@pytest.fixture(scope="module", autouse=True)
def _micropython() -> None:
    try:
        bench.find_micropython()
    except bench.BenchError as e:
        pytest.skip(str(e))


def test_fake_uart_allocates_nothing() -> None:
    r = bench.run_mp("cases.py", ["memuart"], DRIVER)[0]
    assert r["alloc_per_call"] == 0, "bench/memuart.py allocates %.1f B per call" % r["alloc_per_call"]
    assert r["heap_lock"] == "ok", "bench/memuart.py allocates under heap_lock: %s" % r["heap_lock"]


def test_allocation_case_reports_consistent_figures() -> None:
    # The allocation probe receives whole KiB and subtracts nothing for recv_into.
    r = bench.run_mp("cases.py", ["alloc", "tcp", 1024, "recv_into", 4096], DRIVER)[0]
    assert r["received"] >= 16 * 1024
    assert r["returned_per_kib"] == 0
    assert r["alloc_per_kib"] >= 0


def test_mpy_build_and_module_order_cover_the_package(tmp_path: Path) -> None:
    package = DRIVER / "slm_mpy"
    modules = {p.stem for p in package.glob("*.py")}
    order = bench.module_order(package)
    assert set(order) == modules - {"__init__"}
    for i, name in enumerate(order):  # each module after what it imports at module level
        text = (package / (name + ".py")).read_text(encoding="utf-8")
        for dep in set(bench.re.findall(r"^from \.(\w+) import", text, bench.re.MULTILINE)) - {name}:
            assert dep in order[:i], "%s is weighed before its dependency %s" % (name, dep)
    out = bench.build_mpy(package, tmp_path)
    assert {p.stem for p in (out / "slm_mpy").glob("*.mpy")} == modules


def test_ram_probe_runs_on_py_and_mpy(tmp_path: Path) -> None:
    mpy = bench.build_mpy(DRIVER / "slm_mpy", tmp_path)
    for path in (DRIVER, mpy):
        r = bench.run_mp("ram.py", ["retained"], path)[0]
        assert r["open"] and 0 < r["after_import"] < r["after_tcp_client"]


def test_name_pool_and_function_overhead_probes() -> None:
    # The figures README quotes for where the RAM goes: room left in the interned-name pool
    # (a pool opens within the 1000 names tried, and costs more than one name would) and
    # the cost of a function besides its bytecode and name (grows with the method count).
    r = bench.run_mp("names.py", ["reserve"], DRIVER)[0]
    assert 0 <= r["qstr_free_slots"] < 1000 and r["qstr_pool_step"] > 1024, r
    none, many = (bench.run_mp("names.py", ["overhead", n], DRIVER)[0] for n in (0, 100))
    assert 100 * 16 < many["retained"] - none["retained"] < 100 * 200, (none, many)
