"""How long the harness's clients wait for an answer: set per scenario from the clause values and
its time scale, so a real-time (scale 1) run waits as long as the clauses allow, a scaled run no
longer than it must, and running out reads as the implementation's silence, not a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# Spec seconds the slowest single call the clauses allow can take: a hive download whose six hub
# attempts each run into the 25 s hub timeout, plus 36 s of backoff; a gateway call retrying for
# its 120 s budget, then waiting out a 30 s request timeout.
CALL_BOUND = 6 * 25.0 + 36.0


@dataclass(frozen=True)
class Patience:
    seconds: float          # real seconds a client waits
    why: str                # what the wait derives from, for the message when it runs out


OUTSIDE_A_SCENARIO = Patience(CALL_BOUND, f"{CALL_BOUND:g} spec s at time scale 1, outside any scenario")
_current: ContextVar[Patience | None] = ContextVar("faultline_client_patience", default=None)


def client_patience() -> Patience:
    return _current.get() or OUTSIDE_A_SCENARIO


@contextmanager
def patience(seconds: float, why: str) -> Iterator[None]:
    token = _current.set(Patience(seconds, why))
    try:
        yield
    finally:
        _current.reset(token)


class NoAnswer(AssertionError):
    """The system under test did not answer within what the clauses allow."""

    def __init__(self, what: str, waited: Patience) -> None:
        super().__init__(f"no answer to {what} within {waited.seconds:.1f} s ({waited.why})")
