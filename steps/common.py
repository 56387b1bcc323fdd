"""Phrases shared by both profiles: the system under test's lifecycle and HTTP responses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from catalogue import vocabulary
from harness.envelope import envelope_problems, error_code
from harness.exchange import Exchange, send
from harness.history import History
from harness.targets import RunningTarget, TargetContext, TargetSpec, make_target


@pytest.fixture
def sut_values() -> dict[str, Any]:
    """Profile-specific placeholder values (fakes' URLs, limits); profiles override this."""
    return {}


@pytest.fixture
def sut(target_spec: TargetSpec, time_scale: float, api_token: str, sut_values: dict[str, Any],
        history: History) -> Iterator[RunningTarget]:
    running = make_target(target_spec).start(TargetContext(time_scale, api_token, sut_values, history))
    try:
        yield running
    finally:
        running.stop()


@given(parsers.re(r"the (?P<profile>hive|gateway) is running"))
def given_sut_running(sut: RunningTarget) -> None:
    assert sut.is_running(), f"{sut.name} is not running:\n{sut.log_tail()}"


@when(parsers.re(r"a client sends (?P<method>GET|POST|PUT|DELETE) (?P<path>/\S*) to the (?:hive|gateway)"),
      target_fixture="exchange")
def when_client_sends(sut: RunningTarget, method: str, path: str, api_token: str) -> Exchange:
    return send(method, sut.base_url + path, headers={"Authorization": f"Bearer {api_token}"})


@then(parsers.parse("the response status is {status:d}"))
def then_status_is(exchange: Exchange, status: int) -> None:
    assert exchange.status == status, f"expected HTTP {status}: {exchange.describe()}"


@then(parsers.parse('the response is an error envelope with code "{code}"'))
def then_error_envelope(exchange: Exchange, code: str) -> None:
    problems = envelope_problems(exchange, vocabulary())
    assert not problems, f"not a conforming error envelope: {problems}; {exchange.describe()}"
    assert error_code(exchange) == code, f"expected code {code}: {exchange.describe()}"
