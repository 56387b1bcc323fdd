"""Timed checks as steps: a phrase registers what its check must resolve, so the plugin can run
its scenarios at a time scale where the check decides (harness.timing), and `decided` turns a
check that still cannot decide into a skip that says why, after any sure violation has failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from pytest_bdd import given, when
from pytest_bdd.parsers import StepParser

from catalogue import Clause
from harness.resolutions import CLEANUP, SHUTDOWN
from harness.timing import Clock, Resolution, StepArguments, Undecidable, register_timed_phrase
from steps.checked import then

F = TypeVar("F", bound=Callable[..., Any])


def _register(parser: StepParser, resolution: Resolution | Callable[[StepArguments], Resolution]) -> None:
    register_timed_phrase(lambda text: parser.parse_arguments(text) if parser.is_matching(text) else None,
                          resolution)


RELEASES = ("cleanup timeout", "is stopped", "connection is closed", "gone", "reaped", "graceful shutdown")


def about_the_cleanup_timeout(clause: Clause) -> bool:
    """The clauses a check timed by the cleanup timeout speaks for: those about letting go of a
    connection or a process, not the others of its scenario (a connection's close says nothing
    of when the 504 came)."""
    return clause.area == "cleanup" or any(word in clause.text.lower() for word in RELEASES)


def timed_then(parser: StepParser, resolution: Resolution | Callable[[StepArguments], Resolution],
               **kwargs: Any) -> Callable[[F], F]:
    """`then(parser)`, for a check that must resolve `resolution` (fixed, or from the step's arguments)."""
    _register(parser, resolution)
    if resolution in (CLEANUP, SHUTDOWN):
        kwargs.setdefault("speaks_for", about_the_cleanup_timeout)
    return then(parser, **kwargs)   # the decorator itself, so the module applying it registers the step


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
