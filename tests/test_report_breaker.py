"""A broken breaker's conformance report shows what broke it: one run against two reference
gateways, one whose breaker never half-opens (the trial never reaches the provider) and one
whose half-open breaker lets every call through (a second call reaches the provider beside
the trial), each running the one scenario its defect fails."""

from __future__ import annotations

import shutil
import sys

import pytest

from harness.plugin import PROJECT_ROOT
from tests.defect_runs import defect_target
from tests.report_pages import Element, parse
from tests.commands import run_command

NEVER_HALF_OPENS, LETS_ALL_THROUGH = "breaker-never-half-opens", "half-open-lets-all-through"
SCENARIOS = "(cooldown_one_trial and never) or (halfopen_trial and lets)"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Element:
    work = tmp_path_factory.mktemp("breaker-report")
    targets = [defect_target(work, "gateway", defect) for defect in (NEVER_HALF_OPENS, LETS_ALL_THROUGH)]
    for template in (PROJECT_ROOT / "targets").glob("*.j2"):  # templates a target file names beside itself
        shutil.copy(template, work)
    reports = work / "reports"
    completed = run_command([sys.executable, "-m", "harness.cli", "run", *(f"--target={t}" for t in targets),
                             "--reports-dir", str(reports), "--", "-k", SCENARIOS], cwd=PROJECT_ROOT, timeout=300)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    return parse((reports / "conformance.html").read_text(encoding="utf-8"))


def failure_of(doc: Element, defect: str) -> Element:
    [article] = [a for a in doc.find_all("article", class_="failed") if defect in a.attrs["data-nodeid"]]
    return article


def lanes_of(article: Element) -> dict[str, list[str]]:
    """Each lane's label with the verdicts of its marks, from the breaker timeline's SVG."""
    [figure] = [f for f in article.find_all("figure", class_="timeline") if "breaker" in f.all_text()]
    found: dict[str, list[str]] = {}
    for mark in figure.find_all("g", class_="mark"):
        label = mark.find_all("title")[0].all_text().split(":")[0].rsplit(" at ", 1)[0]
        found.setdefault(label, []).append(mark.attrs["data-verdict"])
    return found


def test_a_breaker_that_never_half_opens_shows_the_missing_trial_after_the_cooldown(report: Element) -> None:
    failure = failure_of(report, NEVER_HALF_OPENS)
    assert "trial request(s) never arrived" in failure.find_all("pre", class_="reason")[0].all_text()
    lanes = lanes_of(failure)
    assert lanes["the trial, after it"] == ["missing"]
    assert set(lanes["before it opened"]) == {"free"} and len(lanes["before it opened"]) == 30
    assert len(failure.find_all("rect", class_="blocked")) == 1, "the cooldown is drawn"


def test_a_half_open_breaker_that_lets_all_through_shows_the_second_call_outside_every_window(report: Element) -> None:
    failure = failure_of(report, LETS_ALL_THROUGH)
    assert "beyond the one trial" in failure.find_all("pre", class_="reason")[0].all_text()
    lanes = lanes_of(failure)
    assert lanes["the trial, after it"] == ["inside"]
    assert lanes["beyond the one trial"] == ["outside"]
    assert "during the cooldown" not in lanes, "nothing reached the provider while the breaker was open"
