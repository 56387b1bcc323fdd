"""The Retry-After-of-the-cooldown-left check, against crafted answers: ones that fit and ones that must fail."""

from __future__ import annotations

import pytest

from harness.exchange import Exchange
from harness.timing import ScenarioTiming
from steps.common import then_retry_after_cooldown_left

SCALE, TOL = 0.04, 0.02                        # the coarsest scale at which whole seconds are decidable
LAST_UPSTREAM_REQUEST = 100.0


def answer(sent_at: float, elapsed: float, retry_after: str | None) -> Exchange:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Exchange("POST", "http://127.0.0.1:1/x", 503, headers, b"{}", sent_at, elapsed)


OPENING_CALL = answer(99.99, 0.02, None)        # answered at 100.01, just after the upstream's last request


def check(retry_after: str | None, sent_at: float = 100.02, scale: float = SCALE) -> None:
    then_retry_after_cooldown_left(answer(sent_at, 0.01, retry_after), [OPENING_CALL], [LAST_UPSTREAM_REQUEST],
                                   ScenarioTiming(scale, lambda: TOL))


@pytest.mark.parametrize("value", ["60", "59"])
def test_the_cooldown_left_passes(value: str) -> None:
    check(value)


@pytest.mark.parametrize("value", ["40", "1", "61"])
def test_a_value_far_from_the_cooldown_left_fails(value: str) -> None:
    with pytest.raises(AssertionError, match="Retry-After"):
        check(value)


def test_the_full_cooldown_long_after_opening_fails() -> None:
    with pytest.raises(AssertionError, match="allowed"):
        check("60", sent_at=100.5)              # 0.5 s real = 20 spec s after opening: about 40 are left


def test_a_missing_header_fails() -> None:
    with pytest.raises(AssertionError, match="no usable Retry-After"):
        check(None)


def test_a_fitting_value_at_a_scale_too_coarse_for_whole_seconds_is_not_verified() -> None:
    with pytest.raises(pytest.skip.Exception, match="not verified: a Retry-After in whole seconds cannot be decided"):
        check("60", scale=0.025)


def test_a_value_outside_even_the_coarse_bounds_still_fails() -> None:
    with pytest.raises(AssertionError, match="Retry-After"):
        check("30", scale=0.025)
