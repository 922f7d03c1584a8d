"""Short soak (issue 8): ``bench/soak.py --seconds 60`` under the unix port against slm_sim.

Random TCP echoes, UDP bursts, commands and reconnects with every fault class injected
through the control port (reboots while idle, during a command, a receive and a send; peer
close; registration loss; stalls; bytes lost on the UART); every received byte is verified.
``python bench/soak.py`` is the ten-minute form.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_short_soak(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--seconds", "60", "--faults", "all",
         "--seed", "11", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, "soak failed:\n" + report
    figures = json.loads(out.read_text())
    assert figures["verdict"] == "SOAK PASS", report
    assert figures["ops"] > 100, report
    assert figures["bytes_verified"] > 100_000, report
    assert figures["faults_injected"] > 5 and figures["faults_survived"] == figures["faults_injected"], report
    assert figures["heap_late_median"] - figures["heap_early_median"] < figures["heap_bound"], report
    print(report)
