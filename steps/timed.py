"""Timed checks as steps: a phrase registers what its check must resolve, so the plugin can run
its scenarios at a time scale where the check decides (harness.timing), and `decided` turns a
check that still cannot decide into a skip that says why, after any sure violation has failed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from pytest_bdd import given, when
from pytest_bdd.parsers import StepParser

from catalogue import Clause
from harness.resolutions import CLEANUP, SHUTDOWN
from harness.timing import (Clock, Resolution, ScenarioTiming, StepArguments, Undecidable, WorkBound,
                            register_timed_phrase, undecidable_reason)
from steps.checked import then

F = TypeVar("F", bound=Callable[..., Any])


def _register(parser: StepParser, resolution: Resolution | Callable[[StepArguments], Resolution]) -> None:
    register_timed_phrase(lambda text: parser.parse_arguments(text) if parser.is_matching(text) else None,
                          resolution)


def about_the_cleanup_timeout(clause: Clause) -> bool:
    """The clauses a check timed by the cleanup timeout speaks for: those about letting go of a
    connection or a process, not the others of its scenario (a connection's close says nothing
    of when the 504 came): the cleanup area and the clauses the catalogue marks `releases`."""
    return clause.area == "cleanup" or clause.releases


def timed_then(parser: StepParser, resolution: Resolution | Callable[[StepArguments], Resolution],
               **kwargs: Any) -> Callable[[F], F]:
    """`then(parser)`, for a check that must resolve `resolution` (fixed, or from the step's arguments)."""
    _register(parser, resolution)
    if resolution in (CLEANUP, SHUTDOWN):
        kwargs.setdefault("speaks_for", about_the_cleanup_timeout)
    if not isinstance(resolution, WorkBound):
        return then(parser, **kwargs)
    bound = resolution

    def decorator(step: F) -> F:
        return then(parser, stacklevel=3, **kwargs)(_unsure_below_the_work_floor(step, bound))

    return decorator   # applied by the module that defines the step, so that module registers it


def _unsure_below_the_work_floor(step: F, bound: WorkBound) -> F:
    """Below its work floor a bound is shorter in real time than the work it allows, so missing
    it is no sure violation: the check is not verified, saying so, instead of failed."""

    @functools.wraps(step)
    def judged(*args: Any, **kw: Any) -> Any:
        try:
            return step(*args, **kw)
        except AssertionError as failure:
            timing = kw.get("timing")
            if not isinstance(timing, ScenarioTiming):
                raise
            clock = timing.clock()
            if clock.scale * bound.spec_seconds >= bound.real_floor:
                raise
            pytest.skip(f"not verified: {undecidable_reason(clock, bound)} (it failed there: {failure})")

    return judged  # type: ignore[return-value]


def timed_given(parser: StepParser, resolution: Resolution | Callable[[StepArguments], Resolution],
                **kwargs: Any) -> Callable[[F], F]:
    """`given(parser)` for a set-up whose margins a check relies on (Retry-After hints that end
    close to the retry budget)."""
    _register(parser, resolution)
    return given(parser, **kwargs)


def timed_when(parser: StepParser, resolution: Resolution | Callable[[StepArguments], Resolution],
               **kwargs: Any) -> Callable[[F], F]:
    """`when(parser)` for an action whose own timing the scenario judges (a call made while a
    breaker is open must be rejected at once)."""
    _register(parser, resolution)
    return when(parser, **kwargs)


def decided(clock: Clock, resolution: Resolution) -> None:
    """Skips the scenario, saying why, when `clock` cannot decide `resolution`: a check that
    found nothing wrong must not pass when it could not have told."""
    try:
        clock.require(resolution)
    except Undecidable as exc:
        pytest.skip(f"not verified: {exc}")
