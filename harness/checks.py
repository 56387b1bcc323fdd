"""Checks, not scenarios, carry clauses (DESIGN §6).

A scenario may verify several clauses; each Then step makes one check (or, through `part`,
several) and names the clauses of its scenario it speaks for. A failed check does not stop the
scenario: the checks after it still run, so a malformed error envelope says nothing about the
retry schedule measured beside it. A check that cannot run (what it reads is missing, a timed
check too coarse at this scale) is *not verified*, never failed. The scenario fails at its end
when any check failed, and each clause's result comes from the checks attributed to it.

    CheckLog        one scenario's checks, as they ran (a context variable while it runs)
    CheckResult     one check: its step, the clauses it speaks for, passed / failed / not verified
    CannotCheck     raised by a check whose precondition is missing (not a violation)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import pytest

from catalogue import Clause
from harness.errors import WaitTimeout

PASSED, FAILED, NOT_VERIFIED = "passed", "failed", "not verified"
Attribution = Callable[[Clause], bool]   # which of the scenario's clauses a check speaks for


class CannotCheck(Exception):
    """What the check reads is not there (no error details in a body that is not an envelope,
    no request at the fake): the check cannot tell pass from fail."""


@dataclass(frozen=True)
class CheckResult:
    step: str
    clauses: tuple[str, ...]
    outcome: str
    message: str = ""

    def to_data(self) -> dict[str, Any]:
        return {"step": self.step, "clauses": list(self.clauses), "outcome": self.outcome, "message": self.message}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CheckResult:
        return cls(str(data["step"]), tuple(data["clauses"]), str(data["outcome"]), str(data.get("message", "")))


@dataclass
class CheckLog:
    clauses: tuple[Clause, ...]           # the scenario's clause tags
    results: list[CheckResult] = field(default_factory=list)
    step: str = ""                         # the step being run

    def attribute(self, speaks_for: Attribution | None, fallback_to_all: bool = True) -> tuple[str, ...]:
        """The scenario's clauses a check speaks for: those `speaks_for` accepts, or, when it
        accepts none (or there is no filter), all of them unless told otherwise."""
        chosen = [c.id for c in self.clauses if speaks_for is None or speaks_for(c)]
        if chosen or not fallback_to_all:
            return tuple(chosen)
        return tuple(c.id for c in self.clauses)

    def record(self, clauses: Sequence[str], outcome: str, message: str = "") -> None:
        self.results.append(CheckResult(self.step, tuple(clauses), outcome, message))

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome == FAILED]


_current: ContextVar[CheckLog | None] = ContextVar("faultline_check_log", default=None)


@contextmanager
def scenario_checks(log: CheckLog) -> Iterator[CheckLog]:
    token = _current.set(log)
    try:
        yield log
    finally:
        _current.reset(token)


def current_log() -> CheckLog | None:
    return _current.get()


def outcome_of(exception: BaseException | None) -> tuple[str, str]:
    """What an exception out of a check means: a violation, or a check that could not decide."""
    if exception is None:
        return PASSED, ""
    if isinstance(exception, (AssertionError, WaitTimeout, pytest.fail.Exception)):
        return FAILED, _message(exception)
    if isinstance(exception, pytest.skip.Exception):
        return NOT_VERIFIED, _message(exception).removeprefix("not verified: ")
    if isinstance(exception, CannotCheck):
        return NOT_VERIFIED, _message(exception)
    return NOT_VERIFIED, f"the check could not run: {type(exception).__name__}: {_message(exception)}"


def _message(exception: BaseException) -> str:
    text = str(getattr(exception, "msg", "") or exception).strip()
    return text.splitlines()[0] if text else type(exception).__name__


CHECK_OUTCOMES = (Exception, pytest.skip.Exception, pytest.fail.Exception)  # not KeyboardInterrupt or exit


@contextmanager
def check(what: str | None = None, speaks_for: Attribution | None = None, *,
          fallback_to_all: bool = True) -> Iterator[None]:
    """One check: recorded with its outcome for the clauses it speaks for, never stopping the
    scenario's other checks. A step may make several (`what` names each: the envelope's shape,
    then its code). Outside a scenario (a unit test calling a step) it raises as a plain
    assertion would."""
    log = current_log()
    if log is None:
        yield
        return
    step, before = log.step, len(log.results)
    if what:
        log.step = f"{step}: {what}" if step else what
    try:
        yield
    except CHECK_OUTCOMES as exc:
        outcome, message = outcome_of(exc)
        log.record(log.attribute(speaks_for, fallback_to_all), outcome, message)
    else:
        if what or len(log.results) == before:   # a step made of parts has recorded them
            log.record(log.attribute(speaks_for, fallback_to_all), PASSED)
    finally:
        log.step = step
