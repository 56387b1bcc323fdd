"""The scenario table (harness.coverage.scenario_cases): every case a target should get, keyed
the same way from the Gherkin parse and from pytest's collected items."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from catalogue import PROFILES, catalogue
from harness.coverage import ScenarioCase, scenario_cases
from tests.cases import key_of
from harness.plugin import PROJECT_ROOT

COLLECT = '''
import json, sys, pytest

class Keys:
    def pytest_collection_finish(self, session):
        found = [[dict(i.user_properties).get("target"), dict(i.user_properties).get("scenario"), i.nodeid]
                 for i in session.items]
        with open(sys.argv[1], "w") as out:
            json.dump(found, out)

sys.exit(pytest.main(["--collect-only", "-q", "steps"], plugins=[Keys()]))
'''


@pytest.fixture(scope="module")
def table() -> tuple[ScenarioCase, ...]:
    return scenario_cases(PROJECT_ROOT / "features", catalogue(), PROJECT_ROOT)


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str]]:
    """(target, scenario key, node id) of every item a run of both references collects."""
    out = tmp_path_factory.mktemp("keys") / "keys.json"
    done = subprocess.run([sys.executable, "-c", COLLECT, str(out)], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return [tuple(row) for row in json.loads(out.read_text())]  # type: ignore[misc]


@pytest.mark.parametrize("profile", PROFILES)
def test_keys_are_unique_per_profile(table: tuple[ScenarioCase, ...], profile: str) -> None:
    keys = Counter(case.key for case in table if case.profile == profile)
    assert keys and [k for k, n in keys.items() if n > 1] == []


def test_every_collected_scenario_carries_the_key_the_parse_gives_it(
        table: tuple[ScenarioCase, ...], collected: list[tuple[str, str, str]]) -> None:
    targets = {"reference-hive": "hive", "reference-gateway": "gateway"}
    by_profile = {p: {case.key for case in table if case.profile == p} for p in PROFILES}
    for target, profile in targets.items():
        keys = [key for t, key, _ in collected if t == target]
        assert len(keys) == len(set(keys)), f"two items of {target} share a key"
        assert set(keys) == by_profile[profile], target


def test_outline_rows_are_keyed_by_their_param_id_and_carry_their_examples_tags(
        table: tuple[ScenarioCase, ...], collected: list[tuple[str, str, str]]) -> None:
    rows = [case for case in table if case.key.startswith("features/gateway/classification.feature:")
            and "anthropic" in case.key]
    assert rows and all(case.needs == {"anthropic_upstream"} for case in rows)
    [row] = [c for c in rows if c.key.endswith(" [anthropic-529]")]
    assert row.name == "A transient status from a anthropic provider is retried until it succeeds [anthropic-529]"
    [(_, _, nodeid)] = [r for r in collected if r[1] == row.key and r[0] == "reference-gateway"]
    assert nodeid.endswith("[reference-gateway-anthropic-529]")


def test_slow_scenarios_and_clause_features_are_in_the_table(table: tuple[ScenarioCase, ...]) -> None:
    slow = {case.key for case in table if case.slow}
    assert slow == {key_of(table, "gateway/retry_schedule", "At time scale 1"),
                    key_of(table, "hive/downloads", "At time scale 1")}
    streaming = catalogue().clauses["HIVE-STREAM-002"]
    assert all(streaming.feature in case.needs for case in table if streaming.id in case.clauses)


def test_keys_are_relative_to_the_root(tmp_path: Path) -> None:
    features = tmp_path / "features"
    features.mkdir()
    (features / "demo.feature").write_text("Feature: Demo\n\n  @GW-HEALTH-001 @slow\n  Scenario: One\n"
                                           "    Given x\n")
    [only] = scenario_cases(features, catalogue(), tmp_path)
    assert (only.key, only.profile, only.clauses, only.slow) == ("features/demo.feature:4", "gateway",
                                                                ("GW-HEALTH-001",), True)
