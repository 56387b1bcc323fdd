"""Checks carry clauses: recorded one by one, attributed to the clauses they speak for, never
stopping the scenario's other checks; and the verdict judges each clause on its own checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from catalogue import catalogue
from harness.checks import FAILED, NOT_VERIFIED, PASSED, CannotCheck, CheckLog, CheckResult, check, scenario_checks
from harness.judgement import CaseResult, Claims, ClauseTerms, judge_clause
from harness.plugin import PROJECT_ROOT
from tests.defect_runs import defect_target
from tests.report_pages import parse
from tests.commands import run_command

KNOWN = catalogue().clauses
SCENARIO = (KNOWN["GW-RETRY-004"], KNOWN["GW-RETRY-005"], KNOWN["GW-VOC-004"])


def about_vocabulary(clause: object) -> bool:
    return getattr(clause, "area", "") == "vocabulary"


def test_each_check_is_recorded_with_its_clauses_and_a_failure_does_not_stop_the_next() -> None:
    log = CheckLog(SCENARIO)
    with scenario_checks(log):
        log.step = "Then the schedule holds"
        with check():
            pass
        log.step = "And the envelope"
        with check("the shape", about_vocabulary, fallback_to_all=False):
            raise AssertionError("error.details is missing")
        with check("the details", about_vocabulary):
            raise CannotCheck("no details to read")
        with check("a timed check"):
            pytest.skip("not verified: cannot be decided at time scale 0.01")
        with check("something odd"):
            raise KeyError("details")
    assert [(r.outcome, r.clauses) for r in log.results] == [
        (PASSED, ("GW-RETRY-004", "GW-RETRY-005", "GW-VOC-004")),
        (FAILED, ("GW-VOC-004",)),
        (NOT_VERIFIED, ("GW-VOC-004",)),
        (NOT_VERIFIED, ("GW-RETRY-004", "GW-RETRY-005", "GW-VOC-004")),
        (NOT_VERIFIED, ("GW-RETRY-004", "GW-RETRY-005", "GW-VOC-004"))]
    assert log.results[1].step == "And the envelope: the shape"
    assert log.results[3].message == "cannot be decided at time scale 0.01"
    assert log.results[4].message.startswith("the check could not run: KeyError")


def test_a_check_that_speaks_for_no_clause_of_the_scenario_is_attributed_to_none_or_all() -> None:
    log = CheckLog((KNOWN["GW-RETRY-004"],))
    assert log.attribute(about_vocabulary, fallback_to_all=False) == ()
    assert log.attribute(about_vocabulary) == ("GW-RETRY-004",)


def test_outside_a_scenario_a_check_raises_as_an_assertion_would() -> None:
    with pytest.raises(AssertionError), check():
        raise AssertionError("plain")


def case(*checks: CheckResult, outcome: str = "failed") -> dict[str, CaseResult]:
    return {"k": CaseResult("retries", tuple(c.id for c in SCENARIO), outcome, "2 check(s) failed",
                            checks=checks)}


def result(clause: str, cases: dict[str, CaseResult]) -> tuple[str, tuple[str, ...]]:
    judged = judge_clause(clause, ClauseTerms("MUST"), cases, Claims(), cut_short=False)
    return judged.result, judged.reasons


def test_a_clause_is_judged_on_its_own_checks_not_on_the_scenarios_outcome() -> None:
    checks = (CheckResult("schedule", ("GW-RETRY-004", "GW-RETRY-005", "GW-VOC-004"), PASSED),
              CheckResult("envelope: shape", ("GW-VOC-004",), FAILED, "error.details is missing"),
              CheckResult("timed", ("GW-RETRY-005",), NOT_VERIFIED, "cannot be decided"))
    assert result("GW-RETRY-004", case(*checks))[0] == PASSED
    assert result("GW-VOC-004", case(*checks)) == (FAILED, ("retries: envelope: shape: error.details is missing",))
    assert result("GW-RETRY-005", case(*checks)) == (NOT_VERIFIED, ("retries: timed: cannot be decided",))


def test_a_failure_outside_the_checks_fails_every_clause_and_a_clause_no_check_speaks_for_is_unverified() -> None:
    passed = (CheckResult("count", ("GW-RETRY-005",), PASSED),)
    assert result("GW-RETRY-004", case(*passed))[0] == FAILED            # a When failed after the check
    assert result("GW-RETRY-004", case(*passed, outcome="passed")) == (
        NOT_VERIFIED, ("retries: none of its checks speaks for GW-RETRY-004",))


def test_a_malformed_envelope_fails_only_the_clauses_it_speaks_for_on_a_real_run(tmp_path: Path) -> None:
    """The gateway without suggested_action or Retry-After in its envelopes: the retry schedule
    measured in the same scenario still verifies its clauses."""
    reports = tmp_path / "reports"
    run_command([sys.executable, "-m", "harness.cli", "run", "--target",
                 str(defect_target(tmp_path, "gateway", "bare-envelope")), "--clause", "GW-RETRY-004",
                 "--reports-dir", str(reports)], cwd=PROJECT_ROOT, timeout=600)
    [verdict] = [json.loads(p.read_text()) for p in reports.glob("verdict-*.json")]
    [schedule] = [c for c in verdict["scenarios"].values() if "keeps failing" in c["name"]]
    assert schedule["outcome"] == "failed"
    assert verdict["clauses"]["GW-VOC-004"]["result"] == FAILED
    assert verdict["clauses"]["GW-RETRY-005"]["result"] == PASSED   # its only scenario ran
    # The missing Retry-After and suggested_action are what the code requires of its answer.
    [code] = [c for c in schedule["checks"] if c["step"].endswith("the code SERVICE_UNAVAILABLE")]
    assert code["outcome"] == FAILED and "GW-VOC-004" in code["clauses"], code
    assert not {"GW-RETRY-004", "GW-RETRY-005"} & set(code["clauses"]), code
    doc = parse((reports / "conformance.html").read_text())
    [row] = doc.find_all("tr", data_clause="GW-VOC-004")
    failed = [li.all_text() for li in row.find_all("li", class_="check") if li.attrs.get("data-outcome") == FAILED]
    assert any("the code SERVICE_UNAVAILABLE" in text for text in failed), failed
    [retry] = doc.find_all("tr", data_clause="GW-RETRY-005")
    assert not [li for li in retry.find_all("li", class_="check") if li.attrs.get("data-outcome") == FAILED]
