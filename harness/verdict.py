"""Verdicts per target, judged from the scenario table and the test reports, and written as one
JSON file per target (docs/reports.md describes the format).

Works under pytest-xdist: each report carries its case key, clauses, target, profile and the
timing tolerance it used as user properties, and its report payload (timed checks, evidence) as
the `faultline` attribute; xdist serialises both to the controller, where this aggregation runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogue import Catalogue
from harness.checks import CheckResult
from harness.coverage import ScenarioCase
from harness.judgement import (NOT_RUN, CaseResult, Claims, ClauseTerms, judge, judge_clauses, worse,
                               why_not_applicable)
from harness.targets.spec import TargetSpec

SUITE_VERSION = "0.1.0"
FORMAT = 2   # of the verdict file; `faultline merge` refuses any other


def verdict_body(terms: Mapping[str, ClauseTerms], cases: Mapping[str, CaseResult], claims: Claims, *,
                 cut_short: bool) -> dict[str, Any]:
    """A verdict file's `verdict`, `summary`, `clauses` and `scenarios`, judged from its cases."""
    results = judge_clauses(terms, cases, claims, cut_short=cut_short)
    judgement = judge(terms, results)
    return {
        "verdict": judgement.verdict,
        "summary": judgement.summary(),
        "clauses": {cid: {"level": terms[cid].level, "feature": terms[cid].feature, "result": r.result,
                          "reasons": list(r.reasons), "scenarios": list(r.scenarios)} for cid, r in results.items()},
        "scenarios": {key: cases[key].to_data() for key in sorted(cases)},
    }


def write_verdict(path: Path, verdict: dict[str, Any]) -> Path:
    path.write_text(json.dumps(verdict, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class ScenarioRecord:
    """One scenario as the report shows it, merged from its setup, call and teardown reports."""

    nodeid: str
    target: str
    clauses: tuple[str, ...]
    outcome: str
    case: str = ""                                      # its key in the scenario table
    duration: float = 0.0
    failure: str = ""                                   # the failing phase's report
    reason: str = ""                                    # the failure's gist, or the skip reason
    evidence: dict[str, str] = field(default_factory=dict)
    checks: tuple[dict[str, Any], ...] = ()             # TimedCheck.to_data() of each timed check
    arrivals: dict[str, Any] | None = None              # requests the fakes received, as a TimedCheck
    check_results: tuple[dict[str, Any], ...] = ()      # CheckResult.to_data() of each Then check

    def merged(self, outcome: str, duration: float, failure: str, reason: str,
               payload: dict[str, Any]) -> ScenarioRecord:
        decided = worse(self.outcome, outcome)
        return dataclasses.replace(
            self, outcome=decided, duration=self.duration + duration,
            failure=self.failure or failure,
            reason=reason if decided != self.outcome else self.reason or reason,
            evidence={**self.evidence, **payload.get("evidence", {})},
            checks=self.checks + tuple(payload.get("checks", ())),
            arrivals=self.arrivals or payload.get("arrivals"),
            check_results=self.check_results + tuple(payload.get("check_results", ())))


@dataclass(frozen=True)
class RunStatus:
    """How the run went, so a report of a run cut short says so and what it left out."""

    selected: int | None = None          # scenarios selected to run, when the controller knows
    cut_short: str | None = None         # why the run stopped early (Ctrl-C, -x), or None
    slow: bool = False                   # whether it ran the @slow scenarios (--slow)


@dataclass
class VerdictCollector:
    catalogue: Catalogue
    targets: dict[str, TargetSpec]
    cases: tuple[ScenarioCase, ...] = ()       # every case the feature files hold, selected or not
    scenarios: dict[str, ScenarioRecord] = field(default_factory=dict)   # nodeid -> record
    tolerances: dict[str, set[float]] = field(default_factory=lambda: defaultdict(set))
    status: RunStatus = field(default_factory=RunStatus)

    def add_report(self, target: str, clauses: list[str], nodeid: str, outcome: str | None, *, case: str = "",
                   duration: float = 0.0, failure: str = "", reason: str = "",
                   payload: dict[str, Any] | None = None, tolerances: list[float] | None = None) -> None:
        """Everything one phase report says about a scenario; `outcome` None for a phase that
        decides nothing (a passing setup or teardown)."""
        self.tolerances[target].update(tolerances or ())
        record = self.scenarios.get(nodeid)
        if record is None and outcome is None:
            return  # a passing setup: the scenario has not shown anything yet
        record = record or ScenarioRecord(nodeid, target, tuple(clauses), outcome or "passed", case or nodeid)
        self.scenarios[nodeid] = record.merged(outcome or record.outcome, duration, failure, reason, payload or {})

    def records(self, target: str) -> list[ScenarioRecord]:
        return sorted((r for r in self.scenarios.values() if r.target == target), key=lambda r: r.nodeid)

    def case_results(self, spec: TargetSpec) -> dict[str, CaseResult]:
        """Every case of the target's profile with what this run made of it."""
        reported: dict[str, ScenarioRecord] = {}
        for record in self.records(spec.name):
            known = reported.get(record.case)
            if known is None or worse(known.outcome, record.outcome) != known.outcome:
                reported[record.case] = record
        results = {}
        for case in self.cases:
            if case.profile != spec.profile:
                continue
            why = why_not_applicable(spec.name, spec.features, case.needs, case.slow, self.status.slow)
            ran = reported.pop(case.key) if case.key in reported else None
            results[case.key] = CaseResult(case.name, case.clauses, ran.outcome if ran else NOT_RUN,
                                           ran.reason if ran else "", why is None, why, case.needs, case.slow,
                                           _check_results(ran))
        for key, ran in reported.items():   # a scenario outside the table still counts
            results[key] = CaseResult(ran.nodeid, ran.clauses, ran.outcome, ran.reason, checks=_check_results(ran))
        return results

    def verdict(self, spec: TargetSpec) -> dict[str, Any]:
        terms = {c.id: ClauseTerms(c.level, c.feature) for c in self.catalogue.for_profile(spec.profile)}
        claims = Claims(frozenset(spec.features), frozenset(spec.expected_failures))
        tolerances = self.tolerances.get(spec.name, set())
        return {
            "format": FORMAT,
            "implementation": {"name": spec.name, "version": spec.version, "target_file": str(spec.path)},
            "profile": spec.profile, "kind": spec.kind, "time_scale": spec.time_scale,
            "coarse_time_scale": spec.coarse_time_scale,
            "claimed_features": sorted(spec.features), "expected_failures": sorted(spec.expected_failures),
            "suite_version": SUITE_VERSION,
            "timing_tolerance_seconds": max(tolerances) if tolerances else None,
            "timing_tolerance_range": [min(tolerances), max(tolerances)] if tolerances else None,
            "run": {"scenarios_reported": len(self.records(spec.name)), "cut_short": self.status.cut_short,
                    "slow": self.status.slow},
            **verdict_body(terms, self.case_results(spec), claims, cut_short=self.status.cut_short is not None),
        }

    def write(self, directory: Path) -> list[Path]:
        """Each target's verdict, and beside it the records of its scenarios (their evidence and
        timed checks), from which `faultline merge` draws the merged report."""
        directory.mkdir(parents=True, exist_ok=True)
        for spec in self.targets.values():
            write_records(directory / records_file(spec.name), self.records(spec.name))
        return [write_verdict(directory / f"verdict-{spec.name}.json", self.verdict(spec))
                for spec in self.targets.values()]


def _check_results(record: ScenarioRecord | None) -> tuple[CheckResult, ...]:
    return tuple(CheckResult.from_data(c) for c in record.check_results) if record is not None else ()


def records_file(target: str) -> str:
    return f"records-{target}.json"


def write_records(path: Path, records: list[ScenarioRecord]) -> Path:
    path.write_text(json.dumps([dataclasses.asdict(r) for r in records]) + "\n", encoding="utf-8")
    return path


def read_records(path: Path) -> list[ScenarioRecord]:
    """The records a run wrote; none when the file is missing or not records (a report without evidence)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return [ScenarioRecord(**{**r, "clauses": tuple(r["clauses"]), "checks": tuple(r["checks"]),
                                  "check_results": tuple(r.get("check_results", ()))}) for r in raw]
    except (OSError, ValueError, TypeError, KeyError):
        return []
