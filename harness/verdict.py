"""Clause results per target, aggregated from test reports and written as one JSON file per target.

Works under pytest-xdist: each report carries its clauses, target, profile and the timing
tolerance it used as user properties, and its report payload (timed checks, evidence) as the
`faultline` attribute; xdist serialises both to the controller, where this aggregation runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogue import Catalogue
from harness.targets.spec import TargetSpec

SUITE_VERSION = "0.1.0"
# Worst first: the clause's result is the worst of its scenarios'.
RANK = ["failed", "xpassed", "passed", "xfailed", "skipped"]
BREAKS_RUN = ("failed", "xpassed")
NOT_COVERED = "not covered"
CLAUSE_RESULTS = (*RANK, NOT_COVERED)   # worst first, as RANK, then a clause no scenario reported


def worst(results: Iterable[str]) -> str:
    """The worst of some scenario outcomes or clause results; `not covered` when there are none."""
    return min(results, key=CLAUSE_RESULTS.index, default=NOT_COVERED)


def judge(clauses: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A verdict file's `summary` and `verdict`, from its clause entries (`level` and `result`)."""
    must_failed = [cid for cid, c in clauses.items()
                   if c["level"] == "MUST" and c["result"] in BREAKS_RUN]
    # A strict expected failure that passed is wrong at any level: the target file lied.
    unexpected = sorted(cid for cid, c in clauses.items() if c["result"] == "xpassed")
    ran = [c for c in clauses.values() if c["result"] not in (NOT_COVERED, "skipped")]

    def rate(level: str) -> str:
        rows = [c for c in ran if c["level"] == level]
        passed = sum(1 for c in rows if c["result"] in ("passed", "xfailed"))
        return f"{passed}/{len(rows)}"

    return {
        "summary": {"must_passed": rate("MUST"), "should_passed": rate("SHOULD"),
                    "must_failed": must_failed, "unexpected_passes": unexpected,
                    "not_covered": sorted(cid for cid, c in clauses.items() if c["result"] == NOT_COVERED)},
        "verdict": "fail" if must_failed or unexpected else ("pass" if ran else "not run"),
    }


def write_verdict(path: Path, verdict: dict[str, Any]) -> Path:
    path.write_text(json.dumps(verdict, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass
class ClauseResults:
    scenarios: dict[str, str] = field(default_factory=dict)   # nodeid -> outcome

    def result(self) -> str:
        return worst(self.scenarios.values())


@dataclass(frozen=True)
class ScenarioRecord:
    """One scenario as the report shows it, merged from its setup, call and teardown reports."""

    nodeid: str
    target: str
    clauses: tuple[str, ...]
    outcome: str
    duration: float = 0.0
    failure: str = ""                                   # the failing phase's report
    reason: str = ""                                    # its one-line gist (the assertion message)
    evidence: dict[str, str] = field(default_factory=dict)
    checks: tuple[dict[str, Any], ...] = ()             # TimedCheck.to_data() of each timed check
    arrivals: dict[str, Any] | None = None              # requests the fakes received, as a TimedCheck

    def merged(self, outcome: str, duration: float, failure: str, reason: str,
               payload: dict[str, Any]) -> ScenarioRecord:
        return dataclasses.replace(
            self, outcome=min(self.outcome, outcome, key=RANK.index), duration=self.duration + duration,
            failure=self.failure or failure, reason=self.reason or reason,
            evidence={**self.evidence, **payload.get("evidence", {})},
            checks=self.checks + tuple(payload.get("checks", ())),
            arrivals=self.arrivals or payload.get("arrivals"))


@dataclass(frozen=True)
class RunStatus:
    """How the run ended, so a report of a run cut short says so and what it left out."""

    selected: int | None = None          # scenarios selected to run, when the controller knows
    cut_short: str | None = None         # why the run stopped early (Ctrl-C, -x), or None


@dataclass
class VerdictCollector:
    catalogue: Catalogue
    targets: dict[str, TargetSpec]
    scenarios: dict[str, ScenarioRecord] = field(default_factory=dict)
    tolerances: dict[str, set[float]] = field(default_factory=lambda: defaultdict(set))
    status: RunStatus = field(default_factory=RunStatus)

    def add_report(self, target: str, clauses: list[str], nodeid: str, outcome: str | None, *,
                   duration: float = 0.0, failure: str = "", reason: str = "",
                   payload: dict[str, Any] | None = None,
                   tolerances: list[float] | None = None) -> None:
        """Everything one phase report says about a scenario; `outcome` None for a phase that
        decides nothing (a passing setup or teardown)."""
        self.tolerances[target].update(tolerances or ())
        record = self.scenarios.get(nodeid)
        if record is None and outcome is None:
            return  # a passing setup: the scenario has not shown anything yet
        record = record or ScenarioRecord(nodeid, target, tuple(clauses), outcome or "passed")
        self.scenarios[nodeid] = record.merged(outcome or record.outcome, duration, failure, reason, payload or {})

    def clause_results(self, target: str) -> dict[str, ClauseResults]:
        """Each clause's scenarios with their outcomes, derived from the scenario records."""
        results: dict[str, ClauseResults] = defaultdict(ClauseResults)
        for record in self.scenarios.values():
            if record.target == target:
                for clause in record.clauses:
                    results[clause].scenarios[record.nodeid] = record.outcome
        return dict(results)

    def verdict(self, spec: TargetSpec) -> dict[str, Any]:
        per_target = self.clause_results(spec.name)
        clauses = {}
        for clause in self.catalogue.for_profile(spec.profile):
            entry = per_target.get(clause.id, ClauseResults())
            clauses[clause.id] = {"level": clause.level, "result": entry.result(),
                                  "scenarios": sorted(entry.scenarios)}
        tolerances = self.tolerances.get(spec.name, set())
        scenarios = [s for s in self.scenarios.values() if s.target == spec.name]
        return {
            "implementation": {"name": spec.name, "version": spec.version, "target_file": str(spec.path)},
            "profile": spec.profile, "kind": spec.kind, "time_scale": spec.time_scale,
            "coarse_time_scale": spec.coarse_time_scale,
            "claimed_features": sorted(spec.features), "expected_failures": sorted(spec.expected_failures),
            "suite_version": SUITE_VERSION,
            "timing_tolerance_seconds": max(tolerances) if tolerances else None,
            "timing_tolerance_range": [min(tolerances), max(tolerances)] if tolerances else None,
            "run": {"scenarios_reported": len(scenarios), "cut_short": self.status.cut_short},
            **judge(clauses),
            "clauses": clauses,
        }

    def write(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        return [write_verdict(directory / f"verdict-{spec.name}.json", self.verdict(spec))
                for spec in self.targets.values()]
