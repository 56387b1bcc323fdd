"""Traceability is enforced at collection: untagged or mistagged scenarios never run silently."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.plugin import PROJECT_ROOT

pytest_plugins = ["pytester"]

STEPS = '''
from pytest_bdd import given, scenarios, then
scenarios("demo.feature")

@given("the demo is set up")
def _set_up():
    pass

@then("the demo holds")
def _holds():
    pass
'''


def project(pytester: pytest.Pytester, feature: str, steps: str = STEPS, target: str | None = None) -> None:
    pytester.makeini(f"""
        [pytest]
        bdd_features_base_dir = features/
        addopts = --strict-markers -p no:cacheprovider -p no:allure_pytest_bdd
        pythonpath = {PROJECT_ROOT}
        """)
    pytester.makeconftest('pytest_plugins = ["harness.plugin"]')
    features = pytester.mkdir("features")
    (features / "demo.feature").write_text(textwrap.dedent(feature))
    pytester.makepyfile(test_demo=steps)
    if target is not None:
        (pytester.path / "target.toml").write_text(textwrap.dedent(target))


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--reports-dir", str(pytester.path / "reports"), *args)


SCENARIO = """
    Feature: Demo
      {tags}
      Scenario: Demo scenario
        Given the demo is set up
        Then the demo holds
"""


def test_a_tagged_scenario_runs_against_the_reference_target(pytester: pytest.Pytester) -> None:
    project(pytester, SCENARIO.format(tags="@GW-HEALTH-001"))
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*faultline gateway target: reference-gateway*"])
    verdict = json.loads((pytester.path / "reports" / "verdict-reference-gateway.json").read_text())
    assert verdict["clauses"]["GW-HEALTH-001"]["result"] == "passed"
    assert verdict["scenarios"] == {"features/demo.feature:4": {
        "name": "Demo scenario", "clauses": ["GW-HEALTH-001"], "applies": True, "why_not_applicable": None,
        "outcome": "passed", "reason": "", "needs": [], "slow": False, "checks": []}}
    assert verdict["verdict"] == "incomplete"   # every other gateway clause has no scenario here
    assert verdict["clauses"]["GW-AUTH-001"] == {"level": "MUST", "feature": None, "result": "not verified",
                                                 "reasons": ["no scenario"], "scenarios": []}


def test_a_scenario_without_a_clause_tag_fails_collection(pytester: pytest.Pytester) -> None:
    project(pytester, SCENARIO.format(tags="@gateway"))
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*traceability check failed*",
                                 "*demo.feature:4 (scenario 'Demo scenario') carries no clause tag*"])


def test_a_scenario_with_an_unknown_tag_fails_collection(pytester: pytest.Pytester) -> None:
    project(pytester, SCENARIO.format(tags="@GW-HEALTH-001 @GW-RETRY-999"))
    result = run(pytester)
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*unknown tag @GW-RETRY-999*"])
    result.assert_outcomes(errors=1)


def test_a_scenario_mixing_profiles_fails_collection(pytester: pytest.Pytester) -> None:
    project(pytester, SCENARIO.format(tags="@GW-HEALTH-001 @HIVE-HEALTH-001"))
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*mixes clauses of profiles*"])


def test_an_async_step_fails_collection(pytester: pytest.Pytester) -> None:
    project(pytester, SCENARIO.format(tags="@GW-HEALTH-001"),
            STEPS.replace("def _holds", "async def _holds"))
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*step 'the demo holds' is `async def`; steps must be synchronous*"])


def test_an_optional_feature_the_target_does_not_claim_skips_with_a_reason(pytester: pytest.Pytester) -> None:
    project(pytester, SCENARIO.format(tags="@GW-HEALTH-001 @feature-hive_cli"))
    result = run(pytester, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*target reference-gateway does not claim optional feature(s) hive_cli*"])
    verdict = json.loads((pytester.path / "reports" / "verdict-reference-gateway.json").read_text())
    why = "target reference-gateway does not claim optional feature(s) hive_cli"
    assert verdict["scenarios"]["features/demo.feature:4"] == {
        "name": "Demo scenario", "clauses": ["GW-HEALTH-001"], "applies": False, "why_not_applicable": why,
        "outcome": "skipped", "reason": why, "needs": ["hive_cli"], "slow": False, "checks": []}
    assert verdict["clauses"]["GW-HEALTH-001"]["reasons"] == [
        "every scenario of it needs optional feature(s) hive_cli, which the target does not claim"]


TARGET = """
    name = "demo-gateway"
    profile = "gateway"
    kind = "url"
    features = ["streaming"]
    expected_failures = ["GW-HEALTH-001"]
    [url]
    base_url = "http://127.0.0.1:9"
"""


def test_expected_failures_are_strict(pytester: pytest.Pytester) -> None:
    project(pytester, SCENARIO.format(tags="@GW-HEALTH-001 @feature-streaming"), target=TARGET)
    result = run(pytester, "--target", "target.toml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, "an expected failure that passes must fail the run"
    result.stdout.fnmatch_lines(["*XPASS(strict)*demo-gateway lists GW-HEALTH-001 as expected failures*"])
    verdict = (pytester.path / "reports" / "verdict-demo-gateway.json").read_text()
    assert '"result": "unexpected pass"' in verdict and '"verdict": "not conformant"' in verdict


def test_a_bad_target_file_is_a_usage_error_naming_file_and_key(pytester: pytest.Pytester) -> None:
    project(pytester, SCENARIO.format(tags="@GW-HEALTH-001"), target=TARGET.replace('kind = "url"', 'kind = "ur"'))
    result = run(pytester, "--target", "target.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{Path(pytester.path) / 'target.toml'}: "
                                 "[[]kind[]] must be one of process, docker, url*"])
