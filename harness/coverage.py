"""Which clauses the feature files prove, read straight from the Gherkin (no test run needed)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pytest_bdd.parser import FeatureParser

from catalogue import Catalogue, Clause


@dataclass(frozen=True)
class ScenarioRef:
    feature_file: str
    name: str
    line: int

    def __str__(self) -> str:
        return f"{self.feature_file}:{self.line} {self.name}"


@dataclass(frozen=True)
class Coverage:
    scenarios_by_clause: dict[str, list[ScenarioRef]]

    def uncovered(self, clauses: list[Clause], level: str | None = "MUST") -> list[Clause]:
        return [c for c in clauses
                if (level is None or c.level == level) and not self.scenarios_by_clause.get(c.id)]


def scan_features(features_dir: Path, catalogue: Catalogue) -> Coverage:
    found: dict[str, list[ScenarioRef]] = defaultdict(list)
    for path in sorted(features_dir.rglob("*.feature")):
        feature = FeatureParser(str(features_dir), str(path.relative_to(features_dir))).parse()
        for template in feature.scenarios.values():
            tags = set(template.tags) | set(feature.tags)
            if template.rule is not None:
                tags |= set(template.rule.tags)
            ref = ScenarioRef(str(path.relative_to(features_dir.parent)), template.name, template.line_number)
            for tag in tags & set(catalogue.clauses):
                found[tag].append(ref)
    return Coverage(dict(found))
