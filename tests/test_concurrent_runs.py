"""Two faultline runs on one machine at once: neither is told a port the other holds, and no fake
of one receives a request of the other (each scenario counts its fakes' requests exactly)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.plugin import PROJECT_ROOT
from tests.cases import only_undecidable
from tests.machine_share import quiet_machine

# Scenarios that count every request their fake provider or hub receives.
SELECTION = {"gateway": "retry or breaker", "hive": "retry or breaker or download"}


@quiet_machine
def test_two_runs_at_once_share_no_port_and_no_fake(tmp_path: Path) -> None:
    runs = {}
    for profile, selection in SELECTION.items():
        reports = tmp_path / profile
        runs[profile] = (reports, subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "run", "--profile", profile, "--reports-dir", str(reports),
             "--workers", "2", "--", "-k", selection],   # two runs share the cores: two workers each
            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for reports, process in runs.values():
        output, _ = process.communicate(timeout=900)
        [verdict] = [json.loads(p.read_text()) for p in reports.glob("verdict-*.json")]
        ran = [c for c in verdict["scenarios"].values() if c["outcome"] != "not run"]
        assert len(ran) >= 10, output[-3000:]
        failed = [(c["name"], c["reason"]) for c in ran if c["outcome"] == "failed"]
        assert not failed and verdict["summary"]["must_failed"] == {}, (failed, output[-3000:])
        assert "address already in use" not in output
        skipped = {c["name"]: [c["reason"]] for c in ran if c["outcome"] == "skipped" and c["applies"]}
        assert only_undecidable(skipped), skipped   # a busy machine may leave a timed check undecided
