"""Exit codes and the one printed line of `faultline run` and `faultline merge` (harness.gate),
for each verdict state, with and without --accept-declared-failures."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from catalogue import catalogue
from harness.coverage import scenario_cases
from harness.gate import exit_code, verdict_line, worst_exit_code
from harness.plugin import DEFAULT_TARGETS, PROJECT_ROOT
from harness.targets.spec import TargetSpec, load_target_file
from harness.verdict import VerdictCollector
from tests.cases import key_of

SPEC = load_target_file(DEFAULT_TARGETS["hive"])
TABLE = scenario_cases(PROJECT_ROOT / "features", catalogue(), PROJECT_ROOT)
CASES = {c.key: c for c in TABLE if c.profile == "hive"}
HEALTH = key_of(TABLE, "hive/health", "The health route answers")    # HIVE-HEALTH-001, only here
HEALTH_NAME = next(c.name for c in TABLE if c.key == HEALTH)


def run_of(outcomes: dict[str, str], expected_failures: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The verdict of a hive run in which every applicable case passed but those in `outcomes`."""
    spec: TargetSpec = dataclasses.replace(SPEC, expected_failures=expected_failures)
    found = VerdictCollector(catalogue(), {spec.name: spec}, TABLE)
    for key, case in CASES.items():
        outcome = outcomes.get(key, "skipped" if case.slow or case.needs - spec.features else "passed")
        if outcome != "not run":
            found.add_report(spec.name, list(case.clauses), key, outcome, case=key,
                             reason="the log is not visible" if outcome == "skipped" else "")
    return found.verdict(spec)


CONFORMANT = run_of({})
NOT_CONFORMANT = run_of({HEALTH: "failed"})
INCOMPLETE = run_of({HEALTH: "skipped"})
DECLARED = run_of({HEALTH: "xfailed"}, frozenset({"HIVE-HEALTH-001"}))
UNEXPECTED = run_of({}, frozenset({"HIVE-HEALTH-001"}))


@pytest.mark.parametrize(("verdict", "state", "code", "accepted"), [
    (CONFORMANT, "conformant", 0, 0), (NOT_CONFORMANT, "not conformant", 1, 1), (INCOMPLETE, "incomplete", 3, 3),
    (DECLARED, "incomplete", 3, 0), (UNEXPECTED, "not conformant", 1, 1)])
def test_each_verdict_state_has_its_exit_code(verdict: dict[str, Any], state: str, code: int, accepted: int) -> None:
    assert verdict["verdict"] == state
    assert exit_code(verdict) == code
    assert exit_code(verdict, accept_declared_failures=True) == accepted


def test_several_targets_exit_with_the_worst() -> None:
    assert worst_exit_code([CONFORMANT, INCOMPLETE, NOT_CONFORMANT]) == 1
    assert worst_exit_code([CONFORMANT, INCOMPLETE]) == 3
    assert worst_exit_code([DECLARED, CONFORMANT], accept_declared_failures=True) == 0
    assert worst_exit_code([DECLARED, INCOMPLETE], accept_declared_failures=True) == 3
    assert worst_exit_code([CONFORMANT]) == 0


def test_the_line_names_what_keeps_a_target_from_conformance() -> None:
    must = INCOMPLETE["summary"]["must_passed"]
    assert verdict_line(INCOMPLETE).startswith(f"reference-hive (hive): incomplete; MUST {must} passed, SHOULD ")
    assert verdict_line(INCOMPLETE).endswith(f"; not verified: HIVE-HEALTH-001 ({HEALTH_NAME}: skipped: the log is "
                                             f"not visible)")
    assert verdict_line(DECLARED).endswith("; declared failures: HIVE-HEALTH-001")
    assert f"; failed: HIVE-HEALTH-001 ({HEALTH_NAME}: failed)" in \
        verdict_line(NOT_CONFORMANT)
    assert "; declared failures that passed: HIVE-HEALTH-001" in verdict_line(UNEXPECTED)
    every, should = must.split("/")[1], CONFORMANT["summary"]["should_passed"]
    assert verdict_line(CONFORMANT) == f"reference-hive (hive): conformant; MUST {every}/{every} passed, " \
                                       f"SHOULD {should} passed"


def test_clauses_that_were_only_deselected_are_counted_not_listed_with_reasons() -> None:
    nothing_ran = run_of({key: "not run" for key in CASES})
    line = verdict_line(nothing_ran)
    count = len(nothing_ran["summary"]["must_not_verified"])
    assert f"; {count} more not run (deselected or not selected): HIVE-" in line
    assert line.endswith(", ... (see the report)") and "not verified:" not in line


def test_a_long_list_of_unverified_clauses_is_cut_in_the_line() -> None:
    skipped = run_of({key: "skipped" for key in CASES})
    line = verdict_line(skipped)
    assert line.endswith(f", and {len(skipped['summary']['must_not_verified']) - 10} more (see the report)")


def merge(tmp_path: Path, verdict: dict[str, Any], *options: str) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "verdict-in.json"
    source.write_text(json.dumps(verdict))
    return subprocess.run([sys.executable, "-m", "harness.cli", "merge", str(source), "--out",
                           str(tmp_path / "out.json"), *options], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("verdict", "options", "code"), [
    (CONFORMANT, (), 0), (NOT_CONFORMANT, (), 1), (INCOMPLETE, (), 3), (DECLARED, (), 3),
    (DECLARED, ("--accept-declared-failures",), 0), (INCOMPLETE, ("--accept-declared-failures",), 3),
    (UNEXPECTED, ("--accept-declared-failures",), 1)])
def test_merge_exits_as_the_verdict_says(tmp_path: Path, verdict: dict[str, Any], options: tuple[str, ...],
                                         code: int) -> None:
    done = merge(tmp_path, verdict, *options)
    assert done.returncode == code, done.stdout + done.stderr
    assert f"; {verdict_line(verdict)}\n" in done.stdout
