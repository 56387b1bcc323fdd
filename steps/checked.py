"""Then steps as checks (harness.checks): `then` is pytest-bdd's, with the step run as one check
that a failure does not end the scenario on, attributed to the clauses it speaks for."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from pytest_bdd import then as bdd_then
from pytest_bdd.parsers import StepParser

from harness.checks import Attribution, check

F = TypeVar("F", bound=Callable[..., Any])


def then(parser: StepParser, speaks_for: Attribution | None = None, *, stacklevel: int = 2,
         **kwargs: Any) -> Callable[[F], F]:
    """`speaks_for` picks the scenario's clauses the check verifies (default: all of them);
    `stacklevel` counts the frames from the decorator up to the module that defines the step."""

    def decorator(step: F) -> F:
        @functools.wraps(step)
        def as_a_check(*args: Any, **kw: Any) -> Any:
            with check(None, speaks_for):
                return step(*args, **kw)

        bdd_then(parser, stacklevel=stacklevel, **kwargs)(as_a_check)   # registered in the module applying @then
        return as_a_check  # type: ignore[return-value]

    return decorator
