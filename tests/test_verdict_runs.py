"""Verdicts of real runs against the hive reference: what a deselection, a declared failure that
passes, and a declared failure that fails make of the verdict and the exit code.

Two runs: a cheap one of the health scenarios for two targets side by side (the reference, and a
copy that declares a clause it passes), and one of the whole hive profile against a reference
broken with `--defect exit-0-on-timeout` that declares the clause it breaks: only a run of every
scenario can show that declared failures are all that keeps a target from conformance.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from catalogue import catalogue
from harness.coverage import scenario_cases
from harness.plugin import DEFAULT_TARGETS, PROJECT_ROOT
from tests.cases import key_of, only_undecidable
from tests.defect_runs import defect_target
from tests.report_pages import parse

TABLE = scenario_cases(PROJECT_ROOT / "features", catalogue(), PROJECT_ROOT)

DECLARED_BUT_PASSING = "HIVE-HEALTH-001"
DEFECT, BROKEN_CLAUSE = "exit-0-on-timeout", "HIVE-EXIT-003"


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    reports: Path

    def verdict(self, target: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.reports / f"verdict-{target}.json").read_text())
        return data


def faultline(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout)


def run(reports: Path, *args: str) -> Run:
    done = faultline("run", "--reports-dir", str(reports), *args)
    return Run(done.returncode, done.stdout, done.stderr, reports)


def declaring(target: Path, name: str, *clauses: str) -> Path:
    """A copy of a hive target file under another name, declaring `clauses` as expected failures."""
    text = target.read_text()
    text = re.sub(r'^name = "[^"]+"', f'name = "{name}"', text, count=1, flags=re.M)
    text = re.sub(r"^expected_failures = \[\]", f"expected_failures = {json.dumps(list(clauses))}", text,
                  count=1, flags=re.M)
    assert f'name = "{name}"' in text and "expected_failures = [\"" in text, "unexpected target file shape"
    copy = target.parent / f"{name}.toml"
    copy.write_text(text)
    return copy


@pytest.fixture(scope="module")
def health_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    work = tmp_path_factory.mktemp("health-run")
    (work / "reference-hive.toml").write_text(DEFAULT_TARGETS["hive"].read_text())
    declared = declaring(work / "reference-hive.toml", "declared-hive", DECLARED_BUT_PASSING)
    return run(work / "reports", "--target", str(DEFAULT_TARGETS["hive"]), "--target", str(declared),
               "--workers", "2", "--", "-k", "health")


def test_deselected_must_clauses_leave_the_verdict_incomplete_saying_not_run(health_run: Run) -> None:
    verdict = health_run.verdict("reference-hive")
    assert verdict["verdict"] == "incomplete", verdict["summary"]
    assert verdict["clauses"]["HIVE-HEALTH-001"]["result"] == "passed"
    auth = verdict["clauses"]["HIVE-AUTH-002"]
    assert auth["result"] == "not verified"
    assert auth["reasons"] == ["A wrong token is rejected with 403 and never echoed: not run: deselected or not "
                               "selected"]
    passed, applicable = map(int, verdict["summary"]["must_passed"].split("/"))
    assert applicable == 74 and passed < applicable   # the unverified stay in the denominator
    assert len(verdict["summary"]["must_not_verified"]) == applicable - passed
    slow = verdict["scenarios"][key_of(TABLE, "hive/downloads", "At time scale 1")]
    assert (slow["applies"], slow["why_not_applicable"]) == (False, "@slow scenario (real-time spec values): run "
                                                                    "with --slow")
    assert "reference-hive (hive): incomplete; MUST" in health_run.stdout
    assert "not run (deselected or not selected)" in health_run.stdout


def test_a_declared_failure_that_passes_makes_the_target_not_conformant(health_run: Run) -> None:
    verdict = health_run.verdict("declared-hive")
    assert verdict["verdict"] == "not conformant"
    assert verdict["clauses"][DECLARED_BUT_PASSING]["result"] == "unexpected pass"
    assert verdict["summary"]["unexpected_passes"] == [DECLARED_BUT_PASSING]
    assert "declared-hive (hive): not conformant; " in health_run.stdout
    assert f"declared failures that passed: {DECLARED_BUT_PASSING}" in health_run.stdout


def test_two_targets_exit_with_the_worse_verdict(health_run: Run) -> None:
    assert health_run.returncode == 1, health_run.stdout[-3000:] + health_run.stderr[-3000:]


@pytest.fixture(scope="module")
def declared_defect_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    work = tmp_path_factory.mktemp("declared-defect")
    target = declaring(defect_target(work, "hive", DEFECT), "hive-declaring-its-defect", BROKEN_CLAUSE)
    return run(work / "reports", "--target", str(target), "--workers", "2", "--accept-declared-failures")


def test_a_declared_failure_that_fails_is_incomplete_and_accepted_only_when_asked(
        declared_defect_run: Run, tmp_path: Path) -> None:
    name = "hive-declaring-its-defect"
    verdict = declared_defect_run.verdict(name)
    assert verdict["verdict"] == "incomplete", verdict["summary"]
    # A busy test machine may leave a timed check undecidable; nothing else may be unverified.
    assert only_undecidable(verdict["summary"]["must_not_verified"]) and verdict["summary"]["must_failed"] == {}
    assert verdict["summary"]["expected_failures"] == [BROKEN_CLAUSE]
    assert verdict["clauses"][BROKEN_CLAUSE]["result"] == "expected failure"
    passed = 73 - len(verdict["summary"]["must_not_verified"])
    assert verdict["summary"]["must_passed"] == f"{passed}/74"
    accepted = 0 if not verdict["summary"]["must_not_verified"] else 3   # only declared failures are accepted
    assert declared_defect_run.returncode == accepted, declared_defect_run.stdout[-3000:]
    assert f"{name} (hive): incomplete; MUST {passed}/74 passed" in declared_defect_run.stdout
    assert f"declared failures: {BROKEN_CLAUSE}" in declared_defect_run.stdout
    headline = parse((declared_defect_run.reports / "conformance.html").read_text()).find_all(
        "p", class_="declared-failures")[0].all_text()
    assert BROKEN_CLAUSE in headline and "(expected failure)" in headline

    out = tmp_path / "merged.json"
    strict = faultline("merge", str(declared_defect_run.reports / f"verdict-{name}.json"), "--out", str(out))
    assert strict.returncode == 3, strict.stdout + strict.stderr
    assert f"declared failures: {BROKEN_CLAUSE}" in strict.stdout
