"""Which scenarios the feature files hold, read straight from the Gherkin (no test run needed):
per clause for `faultline clauses`, and as scenario cases, the table a verdict is judged against.

A case is one scenario, or one Examples row of an outline: what pytest-bdd turns into one test
per target. Its key is `<feature file relative to the project root>:<scenario line>`, plus
` [<param id>]` for an outline row, the id pytest-bdd gives that row (`"-".join(row values)`).
The plugin computes the same key from each collected item, so reports name their case.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pytest_bdd.parser import Feature, FeatureParser, ScenarioTemplate, render_string

from catalogue import Catalogue, Clause
from harness.traceability import FEATURE_TAG_PREFIX

SLOW = "slow"


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


@dataclass(frozen=True)
class ScenarioCase:
    """One test a target should get: a scenario, or one Examples row of an outline."""

    key: str
    name: str
    profile: str | None                 # None for a scenario without clauses (collection refuses it)
    clauses: tuple[str, ...]
    needs: frozenset[str]               # optional features: tags of the feature, scenario, Examples block, clauses
    slow: bool


def case_key(feature_file: str | os.PathLike[str], root: Path, line: int,
             example: Mapping[str, str] | None = None) -> str:
    """The key of a scenario (or of one outline row) in `feature_file`, relative to `root`."""
    path = Path(feature_file).resolve()
    where = path.relative_to(root.resolve()) if path.is_relative_to(root.resolve()) else path
    key = f"{where.as_posix()}:{line}"
    return f"{key} [{row_id(example)}]" if example else key


def row_id(example: Mapping[str, str]) -> str:
    return "-".join(example.values())   # as pytest-bdd's collect_example_parametrizations builds it


def template_tags(template: ScenarioTemplate) -> set[str]:
    tags = set(template.tags) | set(template.feature.tags)
    if template.rule is not None:
        tags |= set(template.rule.tags)
    return tags


def parse_features(features_dir: Path) -> list[Feature]:
    return [FeatureParser(str(features_dir), str(path.relative_to(features_dir))).parse()
            for path in sorted(features_dir.rglob("*.feature"))]


def scenario_cases(features_dir: Path, catalogue: Catalogue, root: Path) -> tuple[ScenarioCase, ...]:
    """Every case of the feature files under `features_dir`, keyed relative to `root`."""
    cases = []
    for feature in parse_features(features_dir):
        for template in feature.scenarios.values():
            tags = template_tags(template)
            clauses = sorted((catalogue.clauses[t] for t in tags if t in catalogue.clauses), key=lambda c: c.id)
            profiles = {c.profile for c in clauses}
            base = ScenarioCase(case_key(feature.filename, root, template.line_number), template.name,
                                profiles.pop() if len(profiles) == 1 else None, tuple(c.id for c in clauses),
                                frozenset(_feature_tags(tags) | {c.feature for c in clauses if c.feature}),
                                SLOW in tags)
            rows = [(examples, row) for examples in template.examples for row in examples.as_contexts()]
            if not rows:
                cases.append(base)
            for examples, row in rows:
                cases.append(ScenarioCase(
                    case_key(feature.filename, root, template.line_number, row),
                    f"{render_string(template.name, row)} [{row_id(row)}]", base.profile, base.clauses,
                    base.needs | _feature_tags(examples.tags), base.slow or SLOW in examples.tags))
    return tuple(cases)


def _feature_tags(tags: set[str]) -> set[str]:
    return {t.removeprefix(FEATURE_TAG_PREFIX) for t in tags if t.startswith(FEATURE_TAG_PREFIX)}


def scan_features(features_dir: Path, catalogue: Catalogue) -> Coverage:
    found: dict[str, list[ScenarioRef]] = defaultdict(list)
    for feature in parse_features(features_dir):
        for template in feature.scenarios.values():
            ref = ScenarioRef(str(Path(feature.filename).relative_to(features_dir.parent)), template.name,
                              template.line_number)
            for tag in template_tags(template) & set(catalogue.clauses):
                found[tag].append(ref)
    return Coverage(dict(found))
