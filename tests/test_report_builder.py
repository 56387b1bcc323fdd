"""The conformance report and verdicts built from scenario records, without running a suite."""

from __future__ import annotations

import dataclasses
import re

from catalogue import catalogue
from harness.coverage import scenario_cases
from harness.plugin import DEFAULT_TARGETS, PROJECT_ROOT
from harness.report.evidence import MAX_CHARS, Evidence
from harness.report.html import render_report, scenario_name
from harness.report.recording import deadline_check, window_check
from harness.report.model import Lane, TimedCheck
from harness.targets.spec import TargetSpec, load_target_file
from harness.verdict import RunStatus, VerdictCollector
from tests.cases import key_of
from tests.report_pages import Element, parse

TARGET = "reference-gateway"
SPEC = load_target_file(DEFAULT_TARGETS["gateway"])
TABLE = scenario_cases(PROJECT_ROOT / "features", catalogue(), PROJECT_ROOT)
SCHEDULE = "steps/test_gateway.py::test_six_attempts[reference-gateway]"
RETRY_AFTER = "steps/test_gateway.py::test_retry_after_within_the_cap[reference-gateway]"
BREAKER = "steps/test_gateway.py::test_breaker_opens[reference-gateway]"
HEALTH = "steps/test_gateway.py::test_health[reference-gateway]"
KEYS = {SCHEDULE: key_of(TABLE, "gateway/retry_schedule", "A provider that keeps failing"),
        RETRY_AFTER: key_of(TABLE, "gateway/retry_after", "A Retry-After within the cap"),
        BREAKER: key_of(TABLE, "gateway/breaker", "Five failed operations open the breaker"),
        HEALTH: key_of(TABLE, "gateway/health", "The health route answers")}
HEALTH_NAME = next(c.name for c in TABLE if c.key == KEYS[HEALTH])


class Collector(VerdictCollector):
    """A collector whose reports name their case by the node ids above."""

    def add_report(self, target: str, clauses: list[str], nodeid: str, outcome: str | None,  # type: ignore[override]
                   **rest: object) -> None:
        rest.setdefault("case", KEYS.get(nodeid, nodeid))
        super().add_report(target, clauses, nodeid, outcome, **rest)  # type: ignore[arg-type]


def collector(spec: TargetSpec = SPEC) -> VerdictCollector:
    return Collector(catalogue(), {spec.name: spec}, TABLE)


def timed(passed: bool) -> dict[str, object]:
    return window_check("gap", "attempt 2", 0.5 if passed else 0.1, 0.48, 0.52).to_data()


def run_with_a_failure() -> VerdictCollector:
    found = collector()
    found.add_report(TARGET, ["GW-RETRY-004", "GW-RETRY-005"], SCHEDULE, "passed", duration=3.2,
                     payload={"checks": [timed(True)]}, tolerances=[0.02])
    found.add_report(TARGET, ["GW-RETRY-007"], RETRY_AFTER, "failed", duration=1.1,
                     failure="AssertionError: expected a gap of 5 spec seconds\nlong traceback",
                     reason="AssertionError: expected a gap of 5 spec seconds",
                     payload={"checks": [timed(False)], "evidence": {"reference-gateway log": "attempt 2/6 <b>x</b>",
                                                                      "scenario history": "+0.1 request"}},
                     tolerances=[0.025])
    arrivals = TimedCheck("requests as the fakes received them", (Lane("provider:primary", (0.0, 0.1),
                                                                       constrained=False),), True)
    found.add_report(TARGET, ["GW-BREAKER-001"], BREAKER, "passed", payload={"arrivals": arrivals.to_data()})
    found.add_report(TARGET, ["GW-HEALTH-001"], HEALTH, "passed",
                     payload={"arrivals": arrivals.to_data()})  # not a timed clause: no picture
    return found


def page(found: VerdictCollector) -> Element:
    return parse(render_report(found, "2030-01-01 00:00:00"))


def row(doc: Element, clause: str) -> Element:
    [match] = doc.find_all("tr", data_clause=clause)
    return match


def test_the_matrix_gives_each_clause_its_result() -> None:
    doc = page(run_with_a_failure())
    assert row(doc, "GW-RETRY-007").attrs["data-result"] == "failed"
    assert row(doc, "GW-RETRY-004").attrs["data-result"] == "passed"
    assert row(doc, "GW-AUTH-001").attrs["data-result"] == "not verified"


def test_the_matrix_lists_every_case_of_a_clause_with_not_run_and_not_applicable_ones_greyed() -> None:
    doc = page(run_with_a_failure())
    cases = row(doc, "GW-RETRY-004").find_all("li")
    by_outcome = {li.attrs["data-outcome"]: li for li in cases}
    assert set(by_outcome) == {"passed", "not run"}
    slow = by_outcome["not run"]
    assert "greyed" in slow.attrs["class"] and slow.attrs["data-applies"] == "false"
    assert "not applicable: @slow scenario (real-time spec values): run with --slow" in slow.all_text()
    [auth] = row(doc, "GW-AUTH-001").find_all("li", data_outcome="not run")
    assert "greyed" in auth.attrs["class"] and auth.attrs["data-applies"] == "true"
    reasons = row(doc, "GW-AUTH-001").find_all("ul", class_="reasons")[0].all_text()
    assert "A request without a token is rejected with 401: not run: deselected or not selected" in reasons


def test_a_failed_clause_links_to_its_failure_with_reason_evidence_and_timeline() -> None:
    doc = page(run_with_a_failure())
    [link] = [a for a in row(doc, "GW-RETRY-007").find_all("a") if a.all_text() == "evidence"]
    failure = doc.by_id(link.attrs["href"].removeprefix("#"))
    assert failure.attrs["data-nodeid"] == RETRY_AFTER and "failed" in failure.attrs["class"]
    assert "expected a gap of 5 spec seconds" in failure.find_all("pre", class_="reason")[0].all_text()
    summaries = [d.find_all("summary")[0].all_text() for d in failure.find_all("details", class_="evidence")]
    assert summaries == ["reference-gateway log", "scenario history"]
    assert "attempt 2/6 <b>x</b>" in failure.all_text()  # shown as text, not markup
    assert [g.attrs["data-verdict"] for g in failure.find_all("g", class_="mark")] == ["outside"]


def test_passing_timed_scenarios_get_a_timeline_and_untimed_ones_no_section() -> None:
    found = run_with_a_failure()
    html = render_report(found, "now")
    doc = parse(html)
    shown = {a.attrs["data-nodeid"] for a in doc.find_all("article")}
    assert shown == {SCHEDULE, RETRY_AFTER, BREAKER}
    breaker = [a for a in doc.find_all("article") if a.attrs["data-nodeid"] == BREAKER][0]
    assert "requests as the fakes received them" in breaker.all_text()
    assert [g.attrs["data-verdict"] for g in breaker.find_all("g", class_="mark")] == ["free", "free"]


def test_a_scenario_of_an_untimed_clause_that_recorded_a_timed_check_gets_its_picture() -> None:
    found = collector()
    cleanup = "steps/test_gateway.py::test_a_client_that_hangs_up[reference-gateway]"
    closed = deadline_check("closed", "its last request", "last connection closed", 10.0, None, 10.5)
    found.add_report(TARGET, ["GW-CLEANUP-001"], cleanup, "passed", payload={"checks": [closed.to_data()]})
    [article] = page(found).find_all("article", data_nodeid=cleanup)
    assert [g.attrs["data-verdict"] for g in article.find_all("g", class_="mark")] == ["free", "missing"]


def test_the_summary_shows_verdict_rates_scale_and_the_largest_tolerance_used() -> None:
    found = run_with_a_failure()
    doc = page(found)
    [verdict] = doc.find_all("span", class_="big")
    assert verdict.attrs["data-verdict"] == "not conformant" and "not-conformant" in verdict.attrs["class"]
    passed, applicable = found.verdict(SPEC)["summary"]["must_passed"].split("/")
    assert doc.find_all("dd", class_="must-rate")[0].all_text() == f"{passed}/{applicable}"
    assert int(applicable) == sum(1 for c in catalogue().for_profile("gateway") if c.level == "MUST"
                                  and (c.feature is None or c.feature in SPEC.features))
    text = doc.all_text()
    assert "25.0 ms, measured on this machine" in text
    assert "0.1 (spec seconds" in text


def test_the_report_is_self_contained() -> None:
    html = render_report(run_with_a_failure(), "now")
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r'(?:src|href)="(?!#)', html), "only in-page links"


def test_a_run_cut_short_says_so_and_how_much_did_not_run() -> None:
    found = run_with_a_failure()
    found.status = RunStatus(selected=10, cut_short="stopping after 1 failures")
    banner = page(found).by_id("cut-short").all_text()
    assert "cut short" in banner and "stopping after 1 failures" in banner
    assert "6 selected scenario(s) did not run" in " ".join(banner.split())
    assert page(run_with_a_failure()).find_all(id="cut-short") == []


def test_the_verdict_carries_tolerance_and_run_facts() -> None:
    found = run_with_a_failure()
    verdict = found.verdict(found.targets[TARGET])
    assert verdict["verdict"] == "not conformant" and list(verdict["summary"]["must_failed"]) == ["GW-RETRY-007"]
    assert verdict["summary"]["must_failed"]["GW-RETRY-007"] == [
        "A Retry-After within the cap is waited instead of the computed delay: failed: "
        "AssertionError: expected a gap of 5 spec seconds"]
    assert verdict["timing_tolerance_seconds"] == 0.025
    assert verdict["run"] == {"scenarios_reported": 4, "cut_short": None, "slow": False}
    assert sorted(verdict["clauses"]["GW-RETRY-007"]["scenarios"]) == sorted(c.key for c in TABLE
                                                                            if "GW-RETRY-007" in c.clauses)
    assert verdict["scenarios"][KEYS[RETRY_AFTER]]["outcome"] == "failed"


def test_the_headline_lists_every_unverified_must_clause_with_its_reasons_and_the_declared_failures() -> None:
    found = collector(dataclasses.replace(SPEC, expected_failures=frozenset({"GW-RETRY-007"})))
    found.add_report(TARGET, ["GW-RETRY-007"], RETRY_AFTER, "xfailed", reason="AssertionError: too early")
    found.add_report(TARGET, ["GW-HEALTH-001"], HEALTH, "skipped", reason="the log is not visible")
    doc = page(found)
    [verdict] = doc.find_all("span", class_="big")
    assert verdict.attrs["data-verdict"] == "incomplete"
    [health] = doc.find_all("li", data_clause="GW-HEALTH-001")
    assert health.find_all("a")[0].all_text() == "GW-HEALTH-001"
    assert f": {HEALTH_NAME}: skipped: the log is not visible" in health.all_text()
    unverified = {li.attrs["data-clause"] for li in doc.find_all("ul", class_="must-not-verified")[0].find_all("li")}
    assert "GW-RETRY-007" not in unverified and "GW-AUTH-001" in unverified
    declared = doc.find_all("p", class_="declared-failures")[0].all_text()
    assert "GW-RETRY-007" in declared and "(expected failure)" in declared
    assert row(doc, "GW-RETRY-007").attrs["data-result"] == "expected failure"


def test_a_should_clause_breaks_the_verdict_only_as_an_unexpected_pass() -> None:
    should = "GW-RETRY-003"
    keys = (key_of(TABLE, "gateway/classification", "x-should-retry false"),
            key_of(TABLE, "gateway/classification", "x-should-retry true"))
    for declared, outcome, unexpected in ((False, "failed", []), (True, "xfailed", []), (True, "xpassed", [should])):
        spec = dataclasses.replace(SPEC, expected_failures=frozenset({should} if declared else set()))
        found = collector(spec)
        for key in keys:
            found.add_report(TARGET, [should], key, outcome, case=key)
        result = found.verdict(spec)
        assert result["summary"]["unexpected_passes"] == unexpected
        assert result["verdict"] == ("not conformant" if unexpected else "incomplete")
        assert result["summary"]["must_failed"] == {}


def test_phases_merge_into_one_scenario_with_the_worst_outcome() -> None:
    found = collector()
    found.add_report(TARGET, ["GW-HEALTH-001"], HEALTH, None, duration=0.5)  # a passing setup shows nothing
    assert found.scenarios == {}
    found.add_report(TARGET, ["GW-HEALTH-001"], HEALTH, "passed", duration=1.0, payload={"checks": [timed(True)]})
    found.add_report(TARGET, ["GW-HEALTH-001"], HEALTH, "failed", duration=0.25, failure="teardown broke",
                     payload={"evidence": {"log": "x"}})
    record = found.scenarios[HEALTH]
    assert (record.outcome, record.duration, record.failure) == ("failed", 1.25, "teardown broke")
    assert len(record.checks) == 1 and record.evidence == {"log": "x"}


def test_scenario_names_read_like_the_scenario() -> None:
    assert scenario_name("steps/test_gateway.py::test_retries_stop[reference-gateway-503]") == \
        "retries stop [reference-gateway-503]"


def test_evidence_survives_a_broken_provider_and_cuts_long_text() -> None:
    found = Evidence()
    found.register("log", lambda: "x" * (MAX_CHARS + 10) + "END")
    found.register("broken", lambda: 1 / 0)  # type: ignore[arg-type, return-value]
    found.register("empty", lambda: "  ")
    texts = found.collect()
    assert texts["log"].endswith("END") and texts["log"].startswith("(first 13 characters cut)")
    assert texts["broken"] == "(could not collect: ZeroDivisionError: division by zero)"
    assert "empty" not in texts


def test_failures_with_one_cause_are_grouped_and_each_other_cause_stands_alone() -> None:
    found = collector()
    for n, port in enumerate((31001, 31002, 31003)):
        reason = (f"not a conforming error envelope: ['error.details is missing']; POST http://127.0.0.1:{port}"
                  f"/v1/chat/completions -> 400")
        found.add_report(TARGET, ["GW-ENV-001"], f"steps/test_gateway.py::test_envelope_{n}[reference-gateway]",
                         "failed", failure=reason, reason=reason)
    found.add_report(TARGET, ["GW-RETRY-007"], RETRY_AFTER, "failed", failure="AssertionError: late",
                     reason="AssertionError: late")
    doc = page(found)
    [group] = doc.find_all("section", class_="failure-group")
    assert "3 scenarios failed the same way" in group.all_text()
    assert len(group.find_all("a")) == 2 and len(group.find_all("article", class_="scenario")) == 3
    assert len(doc.find_all("article", class_="scenario")) >= 4   # every failure still has its evidence
