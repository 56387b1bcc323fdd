"""A scenario whose timed checks could not decide runs once more at the scale they named
(harness.rerun), and only such a scenario: a failure, or a check no scale decides, runs once."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

from harness.plugin import PROJECT_ROOT, ChosenScale
from harness.rerun import scale_to_rerun
from harness.quiet import wait_for_quiet
from harness.timing import Clock, Distinction, needed_scale_in, undecidable_reason

pytest_plugins = ["pytester"]

PLUGINS = ["harness.plugin", "harness.check_plugin", "harness.rerun", "harness.report.plugin"]

FEATURE = """
    Feature: Demo
      @GW-HEALTH-001
      Scenario: Demo scenario
        Given the demo is set up
        Then a check that needs time scale {needs} {how}
"""

# The step counts its runs in a file; its distinction is sized so that it needs the given scale at
# whatever tolerance this machine measures.
STEPS = '''
from pathlib import Path

from pytest_bdd import given, parsers, scenarios

from harness.checks import CannotCheck
from harness.timing import DECISION_FRACTION, Distinction
from steps.checked import then
from steps.timed import decided

scenarios("demo.feature")


@given("the demo is set up")
def _set_up():
    pass


@then(parsers.parse("a check that needs time scale {needs:g} {how}"))
def _check(timing, needs, how):
    runs = Path("runs.txt")
    runs.write_text(runs.read_text() + f"{timing.scale:g}\\n" if runs.exists() else f"{timing.scale:g}\\n")
    clock = timing.clock()
    decided(clock, Distinction(clock.tolerance / (DECISION_FRACTION * needs), "a demo distinction"))
    if how == "fails":
        raise AssertionError("the demo violation")
    if how == "cannot see its log":
        raise CannotCheck("the demo log is not visible")
'''


def run_demo(pytester: pytest.Pytester, needs: float, how: str) -> tuple[pytest.RunResult, list[float], dict[str, str]]:
    pytester.makeini(f"""
        [pytest]
        bdd_features_base_dir = features/
        addopts = --strict-markers -p no:cacheprovider -p no:allure_pytest_bdd
        pythonpath = {PROJECT_ROOT}
        """)
    pytester.makeconftest(f"pytest_plugins = {PLUGINS!r}")
    (pytester.mkdir("features") / "demo.feature").write_text(textwrap.dedent(FEATURE.format(needs=needs, how=how)))
    pytester.makepyfile(test_demo=STEPS)
    result = pytester.runpytest_subprocess("--reports-dir", str(pytester.path / "reports"),
                                           "--junitxml", str(pytester.path / "junit.xml"))
    runs = [float(line) for line in (pytester.path / "runs.txt").read_text().split()]
    properties = {p.get("name", ""): p.get("value", "")
                  for p in ET.parse(pytester.path / "junit.xml").iter("property")}
    return result, runs, properties


def test_an_undecided_scenario_runs_again_at_the_scale_its_check_named(pytester: pytest.Pytester) -> None:
    result, runs, properties = run_demo(pytester, 0.3, "decides")
    result.assert_outcomes(passed=1)                  # the second run's result is the scenario's
    assert len(runs) == 2 and runs[0] < 0.3 and runs[1] >= 0.3, runs
    assert properties["time_scale"] == f"{runs[1]:.6f}"
    assert properties["rerun"].startswith(f"run again at time scale {runs[1]:g}: at {runs[0]:g}, ")
    assert "it needs time scale 0.3 or more" in properties["rerun"]
    records = json.loads((pytester.path / "reports" / "records-reference-gateway.json").read_text())
    assert records[0]["evidence"] == {"run again": properties["rerun"]}


def test_a_scenario_whose_scale_cannot_rise_runs_again_at_its_scale_once_quiet(pytester: pytest.Pytester) -> None:
    result, runs, properties = run_demo(pytester, 1.5, "decides")
    result.assert_outcomes(skipped=1)                 # not even real time decides this demo check
    assert len(runs) == 2 and runs[0] < 1.0 and runs[1] == 1.0, runs
    assert properties["rerun"].startswith(f"run again at time scale 1: at {runs[0]:g}, ")
    assert "when the machine was quiet enough" in properties["rerun"]


def test_a_second_run_waits_until_the_machine_is_quiet_enough_for_its_checks() -> None:
    gap = [Distinction(0.3, "a 10 % difference of a 3 s gap")]   # decides at scale 1 up to 75 ms expected
    readings = iter([0.3, 0.2, 0.05])
    quiet = wait_for_quiet(lambda: next(readings), 1.0, gap)
    assert quiet.quiet and quiet.tolerance == 0.05 and quiet.seconds >= 0.4
    assert "when the machine was quiet enough (expected tolerance 50.0 ms)" in quiet.describe()


def test_a_second_run_waits_no_longer_than_its_patience() -> None:
    busy = wait_for_quiet(lambda: 0.3, 1.0, [Distinction(0.3, "a gap")], patience=0.5)
    assert not busy.quiet and 0.5 <= busy.seconds < 1.5
    assert "when the machine was still too busy (expected tolerance 300.0 ms)" in busy.describe()


def test_a_failure_is_never_run_again(pytester: pytest.Pytester) -> None:
    result, runs, properties = run_demo(pytester, 0.01, "fails")
    result.assert_outcomes(failed=1)
    assert len(runs) == 1 and "rerun" not in properties


def test_a_check_no_scale_decides_is_not_run_again(pytester: pytest.Pytester) -> None:
    result, runs, properties = run_demo(pytester, 0.01, "cannot see its log")
    result.assert_outcomes(skipped=1)
    assert len(runs) == 1 and "rerun" not in properties


def test_a_scenario_is_run_again_at_a_scale_it_can_have() -> None:
    planned, fixed = ChosenScale(0.1, 1.0), ChosenScale(1.0, 1.0)
    assert scale_to_rerun(planned, ["a: it needs time scale 0.2 or more"]) == 0.4            # with the planning margin
    assert scale_to_rerun(planned, ["a: it needs time scale 0.7 or more"]) == 1.0            # never above real time
    assert scale_to_rerun(planned, ["a: it needs time scale 1.1 or more"]) == 1.0            # real time, once quiet
    assert scale_to_rerun(fixed, ["a: it needs time scale 1.2 or more"]) == 1.0              # its own, once quiet
    assert scale_to_rerun(ChosenScale(0.1, 0.1), ["a: it needs time scale 0.2 or more"]) == 0.1   # a url target's
    assert scale_to_rerun(planned, ["a: it needs time scale 0.2 or more", "b: log not visible"]) is None
    assert scale_to_rerun(planned, []) is None


def test_the_scale_an_undecided_check_names_is_read_back_from_its_message() -> None:
    clock = Clock(0.1, 0.03)
    resolution = Distinction(1.0, "a demo distinction")
    assert needed_scale_in(undecidable_reason(clock, resolution)) == pytest.approx(0.06)
    assert needed_scale_in("the log is not visible") is None
