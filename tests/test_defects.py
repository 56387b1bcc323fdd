"""Self-validation: every defect of each reference is caught by the scenarios of its clauses."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference.gateway.defects import DEFECTS as GATEWAY_DEFECTS
from reference.hive.defects import DEFECTS as HIVE_DEFECTS
from harness.plugin import PROJECT_ROOT
from tests.defect_catch import CatchRow, write_row
from tests.defect_runs import defect_target, run_suite

CATALOGUES = {"gateway": GATEWAY_DEFECTS, "hive": HIVE_DEFECTS}
CASES = [(profile, name) for profile, defects in CATALOGUES.items() for name in sorted(defects)]


@pytest.mark.parametrize(("profile", "name"), CASES, ids=[f"{p}-{n}" for p, n in CASES])
def test_the_defect_fails_the_scenarios_of_its_clauses(profile: str, name: str, tmp_path: Path) -> None:
    defect = CATALOGUES[profile][name]
    assert defect.clauses, f"defect {name} names no clause it breaks"
    run = run_suite(tmp_path, profile, defect_target(tmp_path, profile, name), " or ".join(defect.clauses))
    write_row(PROJECT_ROOT / "reports", CatchRow(profile, name, defect.description, defect.clauses,
                                                 run.failed, run.passed))
    assert run.failed, f"defect {name} ({defect.description}) went unnoticed by {defect.clauses}:\n{run.output}"
    assert run.returncode == 1, run.output   # pytest's own code for "a test failed", not a faultline verdict
    assert run.failed_on(defect.assertion), (f"defect {name} failed {run.failed}, but none on the check meant to "
                                             f"catch it (/{defect.assertion}/):\n{run.messages}")
