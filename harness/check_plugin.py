"""Runs each scenario's Then steps as checks (harness.checks): one failed check does not stop the
others, and the scenario ends failed when any check failed, or skipped, saying why, when nothing
failed but a check could not decide. Each check's result travels with the scenario's report."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from harness.checks import NOT_VERIFIED, CheckLog, scenario_checks

CHECK_LOG_KEY = pytest.StashKey[CheckLog]()
SHOWN = 5   # failed or undecided checks named in the scenario's own failure message


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    from harness.plugin import CATALOGUE_KEY  # the harness plugin owns the loaded catalogue

    props = dict(item.user_properties)
    if "clauses" not in props:
        return (yield)
    known = item.config.stash[CATALOGUE_KEY].clauses
    log = CheckLog(tuple(known[c] for c in str(props["clauses"]).split(",") if c in known))
    item.stash[CHECK_LOG_KEY] = log
    with scenario_checks(log):
        return (yield)


def pytest_bdd_before_step(request: pytest.FixtureRequest, step: Any) -> None:
    log = request.node.stash.get(CHECK_LOG_KEY, None)
    if log is not None:
        log.step = f"{step.keyword} {step.name}".strip()


def pytest_bdd_after_step(request: pytest.FixtureRequest) -> None:
    log = request.node.stash.get(CHECK_LOG_KEY, None)
    if log is not None:
        log.step = ""


def pytest_bdd_after_scenario(request: pytest.FixtureRequest) -> None:
    """Every step ran: the scenario fails on its failed checks, or skips on undecided ones."""
    log = request.node.stash.get(CHECK_LOG_KEY, None)
    if log is None:
        return
    if log.failed:
        raise AssertionError(_listed(f"{len(log.failed)} check(s) failed", log.failed))
    undecided = [r for r in log.results if r.outcome == NOT_VERIFIED]
    if undecided:
        pytest.skip(_listed(f"not verified: {len(undecided)} check(s) could not decide", undecided))


def _listed(head: str, results: list[Any]) -> str:
    lines = [f"{r.step}: {r.message}" for r in results[:SHOWN]]
    more = f"\n... and {len(results) - SHOWN} more" if len(results) > SHOWN else ""
    return head + ":\n" + "\n".join(lines) + more
