"""Which clauses the feature files prove, read straight from the Gherkin (no test run needed).

A scenario *case* is what pytest runs once per target: a plain scenario, or one row of an
outline's Examples (whose tags add to the scenario's). Two properties are checked from cases:

- every MUST clause outside an optional feature has a case that needs no optional feature and
  is not @slow, so no target of its profile can leave it unverified by not claiming a feature;
- every case with a step that sends a streaming request needs the `streaming` feature, so a
  target that does not stream never fails a scenario for that reason alone.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_bdd.parser import FeatureParser, ScenarioTemplate

from catalogue import Catalogue, Clause
from harness.traceability import FEATURE_TAG_PREFIX

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
class ScenarioCase:
    """One scenario, or one Examples row of an outline, with every tag that applies to it."""

    ref: ScenarioRef
    example: str | None                     # an outline's row ("kind=openai, status=503"), else None
    tags: frozenset[str]
    steps: tuple[tuple[str, str], ...]      # (given | when | then, text with the row's values)

    def optional_features(self, catalogue: Catalogue) -> set[str]:
        tagged = {t.removeprefix(FEATURE_TAG_PREFIX) for t in self.tags if t.startswith(FEATURE_TAG_PREFIX)}
        return tagged | {c.feature for c in self.clauses(catalogue) if c.feature}

    def clauses(self, catalogue: Catalogue) -> list[Clause]:
        return [catalogue.clauses[t] for t in sorted(self.tags) if t in catalogue.clauses]

    def __str__(self) -> str:
        return f"{self.ref}" + (f" [{self.example}]" if self.example is not None else "")


@dataclass(frozen=True)
class Coverage:
    scenarios_by_clause: dict[str, list[ScenarioRef]]

    def uncovered(self, clauses: list[Clause], level: str | None = "MUST") -> list[Clause]:
        return [c for c in clauses
                if (level is None or c.level == level) and not self.scenarios_by_clause.get(c.id)]


def _templates(features_dir: Path) -> Iterable[tuple[str, ScenarioTemplate, set[str]]]:
    for path in sorted(features_dir.rglob("*.feature")):
        feature = FeatureParser(str(features_dir), str(path.relative_to(features_dir))).parse()
        for template in feature.scenarios.values():
            tags = set(template.tags) | set(feature.tags)
            if template.rule is not None:
                tags |= set(template.rule.tags)
            yield str(path.relative_to(features_dir.parent)), template, tags


def scan_features(features_dir: Path, catalogue: Catalogue) -> Coverage:
    found: dict[str, list[ScenarioRef]] = defaultdict(list)
    for feature_file, template, tags in _templates(features_dir):
        ref = ScenarioRef(feature_file, template.name, template.line_number)
        for tag in tags & set(catalogue.clauses):
            found[tag].append(ref)
    return Coverage(dict(found))


def scenario_cases(features_dir: Path) -> list[ScenarioCase]:
    cases = []
    for feature_file, template, tags in _templates(features_dir):
        ref = ScenarioRef(feature_file, template.name, template.line_number)
        tables = [table for table in template.examples if table]
        if not tables:
            steps = tuple((step.type, step.name) for step in template.steps)
            cases.append(ScenarioCase(ref, None, frozenset(tags), steps))
            continue
        for table in tables:
            for context in table.as_contexts():
                steps = tuple((step.type, step.name) for step in template.render(context).steps)
                example = ", ".join(f"{key}={value}" for key, value in context.items())
                cases.append(ScenarioCase(ref, example, frozenset(tags | table.tags), steps))
    return cases


def clauses_without_ungated_case(cases: Iterable[ScenarioCase], catalogue: Catalogue) -> list[Clause]:
    """MUST clauses of no optional feature that no case verifies for every target of the profile."""
    verified: set[str] = set()
    for case in cases:
        if "slow" not in case.tags and not case.optional_features(catalogue):
            verified.update(c.id for c in case.clauses(catalogue))
    return [c for c in catalogue.clauses.values()
            if c.level == "MUST" and c.feature is None and c.id not in verified]


def streaming_steps(case: ScenarioCase, phrases: Sequence[re.Pattern[str]] = STREAMING_PHRASES) -> list[str]:
    return [text for _, text in case.steps if any(p.search(text) for p in phrases)]


def streaming_without_feature(cases: Iterable[ScenarioCase], catalogue: Catalogue,
                              phrases: Sequence[re.Pattern[str]] = STREAMING_PHRASES) -> list[ScenarioCase]:
    """Cases that stream but would run against a target that does not claim streaming."""
    return [case for case in cases
            if streaming_steps(case, phrases) and STREAMING not in case.optional_features(catalogue)]
