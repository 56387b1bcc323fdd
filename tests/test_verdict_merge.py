"""`faultline merge`: one target's verdicts from runs split across machines, merged as docs/verify.md says."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from catalogue import catalogue
from harness.coverage import scenario_cases
from harness.plugin import DEFAULT_TARGETS, PROJECT_ROOT
from harness.targets.spec import TargetSpec, load_target_file
from harness.verdict import RunStatus, VerdictCollector
from harness.verdict_merge import SAME_TARGET, MergeError, merge_verdicts, read_verdict
from tests.cases import key_of

TARGET = "reference-gateway"
SPEC = load_target_file(DEFAULT_TARGETS["gateway"])
TABLE = scenario_cases(PROJECT_ROOT / "features", catalogue(), PROJECT_ROOT)
CASES = {case.key: case for case in TABLE if case.profile == "gateway"}
AUTH = key_of(TABLE, "gateway/auth", "A request without a token is rejected")        # GW-AUTH-001, GW-AUTH-003
HEALTH = key_of(TABLE, "gateway/health", "The health route answers")                  # GW-HEALTH-001
SCHEDULE = key_of(TABLE, "gateway/retry_schedule", "A provider that keeps failing")   # GW-RETRY-004, -005, VOC-004
REAL_TIME = key_of(TABLE, "gateway/retry_schedule", "At time scale 1")                # @slow, GW-RETRY-004
RETRY_AFTER = key_of(TABLE, "gateway/retry_after", "A Retry-After within the cap")    # GW-RETRY-007
RETRY_AFTER_CASES = [key for key, case in CASES.items() if "GW-RETRY-007" in case.clauses]

Report = tuple[str, str]   # case key, outcome


def collector(reports: list[Report], tolerance: float | None = None, spec: TargetSpec = SPEC,
              slow: bool = False) -> VerdictCollector:
    found = VerdictCollector(catalogue(), {spec.name: spec}, TABLE, status=RunStatus(slow=slow))
    for key, outcome in reports:
        found.add_report(spec.name, list(CASES[key].clauses), f"steps/test_gateway.py::{key}", outcome, case=key,
                         reason=f"why {key} {outcome}" if outcome != "passed" else "",
                         tolerances=[tolerance] if tolerance is not None else None)
    return found


def written(directory: Path, found: VerdictCollector) -> Path:
    """The verdict file the plugin writes at the end of a run that reported `found`."""
    [path] = found.write(directory)
    return path


def merged(*paths: Path) -> dict[str, Any]:
    return merge_verdicts([read_verdict(p) for p in paths])


def one_run(reports: list[Report], **options: Any) -> dict[str, Any]:
    found = collector(reports, **options)
    return found.verdict(found.targets[TARGET])


def faultline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], check=False, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


def every_applicable_case() -> list[str]:
    return [key for key, case in CASES.items()
            if not case.slow and not (case.needs - SPEC.features)]


def test_two_halves_of_a_run_merge_to_the_verdict_of_the_whole_run(tmp_path: Path) -> None:
    keys = every_applicable_case()
    half_a, half_b = [(k, "passed") for k in keys[::2]], [(k, "passed") for k in keys[1::2]]
    a, b = written(tmp_path / "a", collector(half_a)), written(tmp_path / "b", collector(half_b))
    assert json.loads(a.read_text())["verdict"] == json.loads(b.read_text())["verdict"] == "incomplete"
    result = merged(a, b)
    assert result == one_run(half_a + half_b)
    assert result["verdict"] == "conformant", result["summary"]
    must = sum(1 for c in catalogue().for_profile("gateway") if c.level == "MUST"
               and (c.feature is None or c.feature in SPEC.features))
    assert result["summary"]["must_passed"] == f"{must}/{must}"
    assert result["scenarios"][REAL_TIME]["applies"] is False


def test_a_failure_in_one_half_wins(tmp_path: Path) -> None:
    keys = every_applicable_case()
    half_a = [(k, "failed" if k == HEALTH else "passed") for k in keys if k != SCHEDULE]
    half_b = [(SCHEDULE, "passed"), (HEALTH, "passed")]
    result = merged(written(tmp_path / "a", collector(half_a)), written(tmp_path / "b", collector(half_b)))
    assert result["verdict"] == "not conformant"
    assert result["summary"]["must_failed"] == {"GW-HEALTH-001": [
        f"The health route answers without a token while the gateway is up: failed: why {HEALTH} failed"]}
    assert result["scenarios"][HEALTH]["outcome"] == "failed"


@pytest.mark.parametrize(("on_a", "on_b", "outcome"), [
    ("failed", "passed", "failed"), ("passed", "failed", "failed"), ("xpassed", "failed", "failed"),
    ("passed", "xpassed", "xpassed"), ("xfailed", "passed", "xfailed"), ("skipped", "xfailed", "xfailed"),
    ("skipped", "passed", "passed"), ("skipped", None, "skipped"), (None, None, "not run")])
def test_a_case_run_on_both_machines_takes_the_worse_outcome_with_its_reason(
        tmp_path: Path, on_a: str | None, on_b: str | None, outcome: str) -> None:
    share_a = [(HEALTH, on_a)] if on_a else []
    share_b = [(HEALTH, on_b)] if on_b else []
    a, b = written(tmp_path / "a", collector(share_a)), written(tmp_path / "b", collector(share_b))
    case = merged(a, b)["scenarios"][HEALTH]
    assert case["outcome"] == outcome
    assert case["reason"] == ("" if outcome in ("passed", "not run") else f"why {HEALTH} {outcome}")


def test_a_case_applies_when_any_share_found_it_applicable(tmp_path: Path) -> None:
    slow = written(tmp_path / "a", collector([(REAL_TIME, "passed")], slow=True))
    fast = written(tmp_path / "b", collector([(SCHEDULE, "passed")]))
    result = merged(fast, slow)
    case = result["scenarios"][REAL_TIME]
    assert (case["applies"], case["why_not_applicable"], case["outcome"]) == (True, None, "passed")
    assert json.loads(fast.read_text())["scenarios"][REAL_TIME]["applies"] is False
    assert result["clauses"]["GW-RETRY-004"]["result"] == "passed"
    assert result["run"]["slow"] is True


def test_run_facts_add_up_and_the_largest_tolerance_is_kept(tmp_path: Path) -> None:
    cut = collector([(HEALTH, "passed")], tolerance=0.03)
    cut.status = RunStatus(selected=5, cut_short="stopping after 1 failures")
    verdict = merged(written(tmp_path / "a", collector([(AUTH, "passed"), (SCHEDULE, "passed")], tolerance=0.02)),
                     written(tmp_path / "b", cut), written(tmp_path / "c", collector([])))
    assert verdict["run"] == {"scenarios_reported": 3, "cut_short": "stopping after 1 failures", "slow": False}
    assert verdict["timing_tolerance_seconds"] == 0.03
    assert verdict["implementation"] == {"name": TARGET, "version": SPEC.version, "target_file": str(SPEC.path)}
    assert (verdict["profile"], verdict["kind"], verdict["format"]) == ("gateway", SPEC.kind, 2)
    assert verdict["time_scale"] == SPEC.time_scale
    assert sorted(verdict["clauses"]["GW-RETRY-007"]["reasons"]) == sorted(
        f"{CASES[key].name}: not run: the run was cut short" for key in RETRY_AFTER_CASES)
    assert merged(written(tmp_path / "d", collector([])))["timing_tolerance_seconds"] is None


def test_declared_failures_are_judged_again_from_the_merged_cases(tmp_path: Path) -> None:
    spec = dataclasses.replace(SPEC, expected_failures=frozenset({"GW-RETRY-007"}))
    rest = [(k, "passed") for k in every_applicable_case() if k not in RETRY_AFTER_CASES]
    result = merged(written(tmp_path / "a", collector(rest, spec=spec)),
                    written(tmp_path / "b", collector([(k, "xfailed") for k in RETRY_AFTER_CASES], spec=spec)))
    assert result["verdict"] == "incomplete" and result["summary"]["must_not_verified"] == {}
    assert result["clauses"]["GW-RETRY-007"]["result"] == "expected failure"
    assert result["summary"]["expected_failures"] == ["GW-RETRY-007"]
    xpassed = merged(written(tmp_path / "c", collector([(k, "xpassed") for k in RETRY_AFTER_CASES], spec=spec)))
    assert xpassed["verdict"] == "not conformant" and xpassed["summary"]["unexpected_passes"] == ["GW-RETRY-007"]


def _edited(path: Path, key: str | tuple[str, ...], value: Any) -> Path:
    """A copy of the file with one value changed; `key` dotted, or a tuple of keys (case keys hold dots)."""
    data = json.loads(path.read_text())
    *parents, last = key.split(".") if isinstance(key, str) else key
    holder = data
    for part in parents:
        holder = holder[part]
    holder[last] = value
    out = path.with_name(f"edited-{len(list(path.parent.glob('edited-*')))}.json")
    out.write_text(json.dumps(data))
    return out


DIFFERENT = {"implementation.name": "other-gateway", "profile": "hive", "kind": "docker",
             "implementation.version": "9.9.9", "suite_version": "0.0.1", "claimed_features": ["metrics"],
             "expected_failures": ["GW-STREAM-004"], "time_scale": 1.0, "coarse_time_scale": 0.5}


@pytest.mark.parametrize("key", SAME_TARGET)
def test_verdicts_of_different_targets_or_suites_are_refused_naming_the_file_and_key(tmp_path: Path,
                                                                                    key: str) -> None:
    a = written(tmp_path, collector([(AUTH, "passed")]))
    other = _edited(a, key, DIFFERENT[key])
    with pytest.raises(MergeError, match=rf"^{re.escape(str(other))}: {key} is .*, but {re.escape(str(a))} "):
        merged(a, other)


def test_a_different_clause_catalogue_is_refused(tmp_path: Path) -> None:
    a = written(tmp_path, collector([(AUTH, "passed")]))
    data = json.loads(a.read_text())
    del data["clauses"]["GW-HEALTH-001"]
    (b := tmp_path / "b.json").write_text(json.dumps(data))
    with pytest.raises(MergeError, match=re.escape(f"{b}: clause GW-HEALTH-001 is in {a} but not in {b}")):
        merged(a, b)
    with pytest.raises(MergeError, match="clause GW-HEALTH-001 has level SHOULD, but .* has MUST"):
        merged(a, _edited(a, "clauses.GW-HEALTH-001.level", "SHOULD"))
    with pytest.raises(MergeError, match="clause GW-HEALTH-001 has feature metrics, but .* has None"):
        merged(a, _edited(a, "clauses.GW-HEALTH-001.feature", "metrics"))


@pytest.mark.parametrize(("content", "says"), [
    (None, "cannot read it (No such file or directory)"), ("{not json", "not JSON ("),
    ("[1, 2]", "not a verdict file (not a JSON object)"),
    ('{"format": 2, "implementation": {"name": "x"}}', "not a verdict file (no 'profile')"),
    ('{"implementation": {"name": "x"}, "verdict": "pass"}',
     "a verdict file of the format before format numbers (1); this Faultline merges format 2 only"),
    ('{"format": 3}', "a verdict file of format 3; this Faultline merges format 2 only"),
])
def test_a_file_that_is_not_a_verdict_of_this_format_is_refused_in_one_line(tmp_path: Path, content: str | None,
                                                                            says: str) -> None:
    bad = tmp_path / "verdict-x.json"
    if content is not None:
        bad.write_text(content)
    with pytest.raises(MergeError) as refused:
        read_verdict(bad)
    assert str(refused.value).startswith(f"{bad}: {says}") and "\n" not in str(refused.value)


def test_a_clause_or_scenario_with_an_unknown_result_is_not_a_verdict(tmp_path: Path) -> None:
    a = written(tmp_path, collector([(AUTH, "passed")]))
    with pytest.raises(MergeError, match="not a verdict file .clause GW-AUTH-001 needs"):
        read_verdict(_edited(a, "clauses.GW-AUTH-001.result", "pass"))
    with pytest.raises(MergeError, match=f"not a verdict file .scenario {re.escape(AUTH)} needs"):
        read_verdict(_edited(a, ("scenarios", AUTH, "outcome"), "green"))


def test_the_command_refuses_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    a = written(tmp_path / "a", collector([(AUTH, "passed")]))
    b = _edited(a, "profile", "hive")
    out = tmp_path / "merged.json"
    refused = faultline("merge", str(a), str(b), "--out", str(out))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == f"faultline merge: {b}: profile is \"hive\", but {a} has \"gateway\"; " \
                             "only verdicts of one target and suite merge\n"
    missing = faultline("merge", str(a), str(tmp_path / "nope.json"), "--out", str(out))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith(f"faultline merge: {tmp_path / 'nope.json'}: cannot read it")
    old = _edited(a, "format", 1)
    assert faultline("merge", str(a), str(old), "--out", str(out)).returncode == 2
    assert not out.exists()


@pytest.fixture(scope="module")
def real_shares(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two machines' verdicts: one real run of the auth clause's scenario, one of the health clause's."""
    shares = []
    for marker in ("GW-AUTH-001", "GW-HEALTH-001"):
        reports = tmp_path_factory.mktemp(marker)
        run = faultline("run", "--profile", "gateway", "--workers", "0", "--reports-dir", str(reports),
                        "--", "-m", marker)
        assert run.returncode == 3, run.stdout + run.stderr   # incomplete: every other clause did not run
        shares.append(reports / f"verdict-{TARGET}.json")
    return shares[0], shares[1]


def test_the_command_merges_real_runs_into_their_union(real_shares: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = real_shares
    out = tmp_path / "reports" / f"verdict-{TARGET}.json"
    result = faultline("merge", str(a), str(b), "--out", str(out))
    assert result.returncode == 3, result.stderr
    must = json.loads(out.read_text())["summary"]["must_passed"]
    assert result.stdout.startswith(f"faultline: merged 2 verdict file(s) into {out}; {TARGET} (gateway): "
                                    f"incomplete; MUST {must} passed, SHOULD 0/")
    # GW-AUTH-003 is not among them: a scenario of GW-AUTH-002 that neither share ran carries it too.
    assert must.startswith("2/")
    assert "more not run (deselected or not selected): GW-AUTH-002, " in result.stdout
    verdict, shares = json.loads(out.read_text()), [json.loads(p.read_text()) for p in real_shares]
    ran = {key for s in shares for key, case in s["scenarios"].items() if case["outcome"] != "not run"}
    assert ran == {AUTH, HEALTH}
    assert {key for key, case in verdict["scenarios"].items() if case["outcome"] == "passed"} == ran
    assert {cid for cid, c in verdict["clauses"].items() if c["result"] == "passed"} == \
        {"GW-AUTH-001", "GW-HEALTH-001"}
    assert verdict["run"] == {"scenarios_reported": 2, "cut_short": None, "slow": False}
    # The merged report: both shares' scenarios, from the records each run left beside its verdict.
    report = out.with_suffix(".html")
    assert f"faultline: merged report: {report}" in result.stdout
    page = report.read_text()
    for key in (AUTH, HEALTH):
        assert verdict["scenarios"][key]["name"] in page
    assert "incomplete" in page and "GW-AUTH-001" in page


def test_the_command_exits_1_when_a_share_failed_a_must_clause(real_shares: tuple[Path, Path],
                                                               tmp_path: Path) -> None:
    a, b = real_shares
    failed = _edited(b, ("scenarios", HEALTH, "outcome"), "failed")
    result = faultline("merge", str(a), str(failed), "--out", str(tmp_path / "merged.json"))
    assert result.returncode == 1, result.stderr
    assert "(gateway): not conformant; MUST 1/" in result.stdout
    assert f"failed: GW-HEALTH-001 ({CASES[HEALTH].name}: failed outside its checks)" in result.stdout
