"""Self-validation: every defect of the reference hive is caught by the scenarios of its clauses."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference.hive.defects import DEFECTS
from tests.defect_runs import defect_target, run_suite


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_the_defect_fails_the_scenarios_of_its_clauses(name: str, tmp_path: Path) -> None:
    defect = DEFECTS[name]
    assert defect.clauses, f"defect {name} names no clause it breaks"
    run = run_suite(tmp_path, "hive", defect_target(tmp_path, "hive", name), " or ".join(defect.clauses))
    assert run.failed, f"defect {name} ({defect.description}) went unnoticed by {defect.clauses}:\n{run.output}"
    assert run.returncode == 1, run.output
