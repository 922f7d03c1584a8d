"""Short soak (issue 8): ``bench/soak.py --seconds 60`` under the unix port against slm_sim.

Random TCP echoes, UDP bursts, commands and reconnects with faults injected through the
control port; every received byte is verified. The fault classes are the ones the driver
survives today (reboots while idle or during a command, peer close, registration loss,
stalls). ``reboot-receive``, ``reboot-send`` and ``drop`` are left out until the tests in
``unix_port_tests/test_faults_pending.py`` pass; ``python bench/soak.py`` runs them all.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SURVIVED = "reboot,reboot-command,peer-close,outage,stall"


def test_short_soak(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--seconds", "60", "--faults", SURVIVED,
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
