"""Clause results per target, aggregated from test reports and written as one JSON file per target.

Works under pytest-xdist: each report carries its clauses, target and profile as user
properties, which xdist serialises to the controller where this aggregation runs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogue import Catalogue
from harness.targets.spec import TargetSpec

SUITE_VERSION = "0.1.0"
# Worst first: the clause's result is the worst of its scenarios'.
RANK = ["failed", "xpassed", "passed", "xfailed", "skipped"]


@dataclass
class ClauseResults:
    scenarios: dict[str, str] = field(default_factory=dict)   # nodeid -> outcome

    def result(self) -> str:
        if not self.scenarios:
            return "not covered"
        return min(self.scenarios.values(), key=RANK.index)


@dataclass
class VerdictCollector:
    catalogue: Catalogue
    targets: dict[str, TargetSpec]
    results: dict[str, dict[str, ClauseResults]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, target: str, clauses: list[str], nodeid: str, outcome: str) -> None:
        per_target = self.results[target]
        for clause in clauses:
            entry = per_target.setdefault(clause, ClauseResults())
            previous = entry.scenarios.get(nodeid)
            if previous is None or RANK.index(outcome) < RANK.index(previous):
                entry.scenarios[nodeid] = outcome

    def verdict(self, spec: TargetSpec) -> dict[str, Any]:
        per_target = self.results.get(spec.name, {})
        clauses = {}
        for clause in self.catalogue.for_profile(spec.profile):
            entry = per_target.get(clause.id, ClauseResults())
            clauses[clause.id] = {"level": clause.level, "result": entry.result(),
                                  "scenarios": sorted(entry.scenarios)}
        must_failed = [cid for cid, c in clauses.items()
                       if c["level"] == "MUST" and c["result"] in ("failed", "xpassed")]
        ran = [c for c in clauses.values() if c["result"] not in ("not covered", "skipped")]

        def rate(level: str) -> str:
            rows = [c for c in ran if c["level"] == level]
            passed = sum(1 for c in rows if c["result"] in ("passed", "xfailed"))
            return f"{passed}/{len(rows)}"

        return {
            "implementation": {"name": spec.name, "version": spec.version, "target_file": str(spec.path)},
            "profile": spec.profile, "kind": spec.kind, "time_scale": spec.time_scale,
            "claimed_features": sorted(spec.features), "expected_failures": sorted(spec.expected_failures),
            "suite_version": SUITE_VERSION,
            "summary": {"must_passed": rate("MUST"), "should_passed": rate("SHOULD"),
                        "must_failed": must_failed,
                        "not_covered": sorted(cid for cid, c in clauses.items() if c["result"] == "not covered")},
            "verdict": "fail" if must_failed else ("pass" if ran else "not run"),
            "clauses": clauses,
        }

    def write(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for spec in self.targets.values():
            path = directory / f"verdict-{spec.name}.json"
            path.write_text(json.dumps(self.verdict(spec), indent=2) + "\n", encoding="utf-8")
            written.append(path)
        return written
