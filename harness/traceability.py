"""From Gherkin tags to clauses: which clause a scenario proves, and which tags are legal.

Every scenario must carry at least one clause tag from the catalogue, all of one profile; other
tags must be registered too (profile tags, `slow`, `coarse-timing`,
`fresh-instance`, `feature-<optional feature>`). Anything else
fails collection, so a typo in a tag can never leave a scenario silently untraced.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from pytest_bdd.scenario import scenario_wrapper_template_registry
from pytest_bdd.steps import step_function_context_registry

from catalogue import PROFILES, Catalogue, Clause

FEATURE_TAG_PREFIX = "feature-"
COARSE_TIMING = "coarse-timing"
FRESH_INSTANCE = "fresh-instance"
PLAIN_TAGS: dict[str, str]
PLAIN_TAGS = {"slow": "runs at time scale 1 to prove the real spec values",
              COARSE_TIMING: "sits through whole retry cycles, cooldowns or timeouts, so it runs at the target's "
                             "coarse_time_scale (raised where its finest timed check needs it)",
              FRESH_INSTANCE: "needs the implementation in its start state, or leaves it out of it (a "
                              "failure on a breaker's count, metric values), so a long-running url target "
                              "runs it only after its [url] reset request",
              **{profile: f"{profile} profile scenario" for profile in PROFILES}}


def registered_markers(catalogue: Catalogue) -> dict[str, str]:
    """Every tag a feature file may use, with the description pytest shows for it."""
    markers = dict(PLAIN_TAGS)
    markers.update({clause.id: f"[{clause.level}] {clause.text}" for clause in catalogue.clauses.values()})
    markers.update({FEATURE_TAG_PREFIX + name: f"optional feature: {text}"
                    for name, text in catalogue.optional_features.items()})
    return markers


@dataclass(frozen=True)
class ScenarioInfo:
    name: str
    feature_file: str
    line: int
    tags: frozenset[str]
    clauses: tuple[Clause, ...]

    @property
    def profiles(self) -> set[str]:
        return {clause.profile for clause in self.clauses}

    @property
    def profile(self) -> str | None:
        profiles = self.profiles
        return next(iter(profiles)) if len(profiles) == 1 else None

    def optional_features(self, catalogue: Catalogue) -> set[str]:
        tagged = {t.removeprefix(FEATURE_TAG_PREFIX) for t in self.tags if t.startswith(FEATURE_TAG_PREFIX)}
        return tagged | {c.feature for c in self.clauses if c.feature}

    @property
    def where(self) -> str:
        return f"{self.feature_file}:{self.line} (scenario {self.name!r})"


def scenario_info(function: object, catalogue: Catalogue) -> ScenarioInfo | None:
    """The scenario behind a pytest-bdd test function, or None for ordinary tests."""
    # A weak-key lookup: anything that is not a registered scenario function, callable or not, gives None.
    template = scenario_wrapper_template_registry.get(cast(Callable[..., object], function))
    if template is None:
        return None
    tags = set(template.tags) | set(template.feature.tags)
    if template.rule is not None:
        tags |= set(template.rule.tags)
    clauses = tuple(sorted((catalogue.clauses[t] for t in tags if t in catalogue.clauses), key=lambda c: c.id))
    return ScenarioInfo(template.name, template.feature.rel_filename, template.line_number,
                        frozenset(tags), clauses)


def scenario_step_texts(function: object, example: Mapping[str, str] | None) -> list[str]:
    """The texts of a scenario's steps (background included, outline placeholders filled in)."""
    template = scenario_wrapper_template_registry.get(cast(Callable[..., object], function))
    if template is None:
        return []
    return [step.name for step in template.render(example or {}).steps]


def tag_problems(info: ScenarioInfo) -> list[str]:
    if not info.clauses:
        return [f"{info.where} carries no clause tag: tag it with the catalogue clause it proves "
                f"(see `faultline clauses`)"]
    if len(info.profiles) > 1:
        return [f"{info.where} mixes clauses of profiles {sorted(info.profiles)}"]
    return []


def async_step_definitions() -> Iterable[str]:
    """Step definitions written as coroutines: pytest-bdd would call them and never await them."""
    for context in list(step_function_context_registry.values()):
        func = context.step_func
        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            code = getattr(func, "__code__", None)
            where = f"{code.co_filename}:{code.co_firstlineno}" if code else repr(func)
            yield f"{where} step {context.parser.name!r} is `async def`; steps must be synchronous"
