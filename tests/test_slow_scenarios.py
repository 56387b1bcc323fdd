"""The @slow scenarios (the real spec values at time scale 1) pass against the references: the
harness's clients wait as long as the clauses allow one call, not a fixed 30 s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.plugin import PROJECT_ROOT


def test_every_slow_scenario_passes_against_the_references(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--slow", "--reports-dir", str(reports),
                           "--", "-m", "slow"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    verdicts = [json.loads(p.read_text()) for p in sorted(reports.glob("verdict-*.json"))]
    slow = [case for v in verdicts for case in v["scenarios"].values() if case["slow"]]
    assert len(verdicts) == 2 and len(slow) >= 2, done.stdout[-3000:] + done.stderr[-2000:]
    assert all(case["applies"] and case["outcome"] == "passed" for case in slow), \
        [(case["name"], case["outcome"], case["reason"]) for case in slow]
