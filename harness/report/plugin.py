"""The scenario side of reporting, run wherever the scenario runs (an xdist worker or the only
process): Allure labels when a scenario starts; when its report is made, the timed checks it
recorded and, if it failed, its evidence, attached to Allure and carried on the report.

The report carries them as its `faultline` attribute: pytest serialises a report's extra
attributes for xdist, so the controller's collector receives them, while neither the terminal
nor JUnit shows them.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from harness.check_plugin import CHECK_LOG_KEY
from harness.plugin import RERUN_PROPERTY
from harness.report.allure_labels import attach_evidence, label_scenario
from harness.report.evidence import EVIDENCE_KEY, HISTORY_KEY, Evidence
from harness.report.recorder import PAYLOAD_ATTRIBUTE
from harness.report.recording import arrivals_check, recorded_checks


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Where fixtures register what a failure of this scenario should show."""
    found = Evidence()
    request.node.stash[EVIDENCE_KEY] = found
    return found


@pytest.hookimpl(trylast=True)  # after allure-pytest-bdd has opened the scenario's test case
def pytest_bdd_before_scenario(request: pytest.FixtureRequest) -> None:
    from harness.plugin import CATALOGUE_KEY  # the harness plugin owns the loaded catalogue

    props = dict(request.node.user_properties)
    if "clauses" not in props:
        return
    known = request.config.stash[CATALOGUE_KEY].clauses
    label_scenario([known[c] for c in str(props["clauses"]).split(",") if c in known],
                   str(props["target"]), str(props["profile"]))


@pytest.hookimpl(wrapper=True, trylast=True)  # innermost: allure still holds the test case
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    if "clauses" not in dict(item.user_properties):
        return report
    payload: dict[str, Any] = {}
    history = item.stash.get(HISTORY_KEY, None)
    log = item.stash.get(CHECK_LOG_KEY, None)
    if report.when == "call" and log is not None:
        payload["check_results"] = [r.to_data() for r in log.results]
    if report.when == "call" and history is not None:
        events = history.events()
        payload["checks"] = recorded_checks(events)
        arrivals = arrivals_check(events)
        if arrivals is not None:
            payload["arrivals"] = arrivals.to_data()
    found = item.stash.get(EVIDENCE_KEY, None)
    if report.failed and found is not None:
        texts = found.collect()
        payload["evidence"] = texts
        if report.when == "call":  # allure's test case exists from the first step to teardown
            attach_evidence(texts)
    rerun = dict(item.user_properties).get(RERUN_PROPERTY)
    if report.when == "call" and rerun:   # why this is the scenario's second run
        payload["evidence"] = {**payload.get("evidence", {}), "run again": str(rerun)}
    if payload:
        setattr(report, PAYLOAD_ATTRIBUTE, payload)
    return report
