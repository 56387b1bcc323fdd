"""Self-validation: every defect of each reference is caught by the scenarios of its clauses."""

from __future__ import annotations

from pathlib import Path

import pytest

from reference.gateway.defects import DEFECTS as GATEWAY_DEFECTS
from reference.hive.defects import DEFECTS as HIVE_DEFECTS
from harness.plugin import PROJECT_ROOT
from tests.defect_catch import CatchRow, judge_catch, write_row
from tests.defect_runs import defect_target, judged_on_jitter, run_suite
from tests.machine_share import quiet_machine
import steps.test_gateway  # noqa: F401  (registers the gateway's timed phrases)
import steps.test_hive  # noqa: F401  (registers the hive's timed phrases)

CATALOGUES = {"gateway": GATEWAY_DEFECTS, "hive": HIVE_DEFECTS}
CASES = [pytest.param(profile, name, id=f"{profile}-{name}",
                      marks=[quiet_machine] if judged_on_jitter(defect.clauses) else [])
         for profile, defects in CATALOGUES.items() for name, defect in sorted(defects.items())]


@pytest.mark.parametrize(("profile", "name"), CASES)
def test_the_defect_fails_the_scenarios_of_its_clauses(profile: str, name: str, tmp_path: Path) -> None:
    """In isolation: only the scenarios of the clauses it names run, and each clause must have one
    that failed on the check meant to catch the defect, with the target serving."""
    defect = CATALOGUES[profile][name]
    assert defect.clauses, f"defect {name} names no clause it breaks"
    target = defect_target(tmp_path, profile, name, getattr(defect, "readiness_status", None))
    run = run_suite(tmp_path, profile, target, " or ".join(defect.clauses))
    row = CatchRow(profile, name, defect.description, defect.clauses,
                   judge_catch(run.verdict, defect.clauses, defect.assertion))
    write_row(PROJECT_ROOT / "reports", row)
    missed = {c.clause: c.missed_by for c in row.catches if not c.caught_by}
    assert not missed, (f"defect {name} ({defect.description}) was not caught on /{defect.assertion}/ for "
                        f"{sorted(missed)}: {missed}\n{run.output}")
