"""Which scenarios the feature files hold, read straight from the Gherkin (no test run needed):
per clause for `faultline clauses`, and as scenario cases, the table a verdict is judged against.

A case is one scenario, or one Examples row of an outline: what pytest-bdd turns into one test
per target. Its key is `<feature file relative to the project root>:<scenario line>`, plus
` [<param id>]` for an outline row, the id pytest-bdd gives that row (`"-".join(row values)`).
The plugin computes the same key from each collected item, so reports name their case.

Two properties are checked from cases (tests/test_feature_coverage.py):

- every MUST clause outside an optional feature has a case that needs no optional feature and
  is not @slow, so no target of its profile can leave it unverified by not claiming a feature;
- every case with a step that sends a streaming request needs the `streaming` feature, so a
  target that does not stream never fails a scenario for that reason alone.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_bdd.parser import Feature, FeatureParser, ScenarioTemplate, render_string

from catalogue import Catalogue, Clause
from harness.traceability import FEATURE_TAG_PREFIX

SLOW = "slow"
STREAMING = "streaming"
# The phrases whose step definitions send the system under test a request with stream=true.
# tests/test_feature_coverage.py proves every step definition that streams is matched by one.
STREAMING_PHRASES: tuple[re.Pattern[str], ...] = (
    re.compile(r"^a client streams a chat completion\b"),
    re.compile(r"^a client streams an inference\b"),
)


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
    steps: tuple[tuple[str, str], ...] = ()     # (given | when | then, text with the row's values)
    example: str | None = None                  # an outline's row ("kind=openai, status=503"), else None

    def __str__(self) -> str:
        return f"{self.key} {self.name}"


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
                                SLOW in tags, tuple((step.type, step.name) for step in template.steps))
            rows = [(examples, row) for examples in template.examples for row in examples.as_contexts()]
            if not rows:
                cases.append(base)
            for examples, row in rows:
                cases.append(ScenarioCase(
                    case_key(feature.filename, root, template.line_number, row),
                    f"{render_string(template.name, row)} [{row_id(row)}]", base.profile, base.clauses,
                    base.needs | _feature_tags(examples.tags), base.slow or SLOW in examples.tags,
                    tuple((step.type, step.name) for step in template.render(row).steps),
                    ", ".join(f"{key}={value}" for key, value in row.items())))
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


def clauses_without_ungated_case(cases: Iterable[ScenarioCase], catalogue: Catalogue) -> list[Clause]:
    """MUST clauses of no optional feature that no case verifies for every target of the profile."""
    verified: set[str] = set()
    for case in cases:
        if not case.slow and not case.needs:
            verified.update(case.clauses)
    return [c for c in catalogue.clauses.values()
            if c.level == "MUST" and c.feature is None and c.id not in verified]


def streaming_steps(case: ScenarioCase, phrases: Sequence[re.Pattern[str]] = STREAMING_PHRASES) -> list[str]:
    return [text for _, text in case.steps if any(p.search(text) for p in phrases)]


def streaming_without_feature(cases: Iterable[ScenarioCase],
                              phrases: Sequence[re.Pattern[str]] = STREAMING_PHRASES) -> list[ScenarioCase]:
    """Cases that stream but would run against a target that does not claim streaming."""
    return [case for case in cases if streaming_steps(case, phrases) and STREAMING not in case.needs]
