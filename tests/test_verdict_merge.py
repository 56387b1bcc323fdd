"""`faultline merge`: one target's verdicts from runs split across machines, merged as docs/verify.md says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from catalogue import catalogue
from harness.plugin import DEFAULT_TARGETS, PROJECT_ROOT
from harness.targets.spec import load_target_file
from harness.verdict import RunStatus, VerdictCollector
from harness.verdict_merge import SAME_TARGET, MergeError, merge_verdicts, read_verdict

TARGET = "reference-gateway"
AUTH = "steps/test_gateway.py::test_a_request_without_a_token_is_rejected_with_401[reference-gateway]"
HEALTH = "steps/test_gateway.py::test_health[reference-gateway]"
SCHEDULE = "steps/test_gateway.py::test_six_attempts[reference-gateway]"
RETRY_AFTER = "steps/test_gateway.py::test_retry_after_within_the_cap[reference-gateway]"

Report = tuple[list[str], str, str]   # clauses, nodeid, outcome


def collector(reports: list[Report], tolerance: float | None = None) -> VerdictCollector:
    spec = load_target_file(DEFAULT_TARGETS["gateway"])
    found = VerdictCollector(catalogue(), {spec.name: spec})
    for clauses, nodeid, outcome in reports:
        found.add_report(TARGET, clauses, nodeid, outcome, tolerances=[tolerance] if tolerance is not None else None)
    return found


def written(directory: Path, found: VerdictCollector) -> Path:
    """The verdict file the plugin writes at the end of a run that reported `found`."""
    [path] = found.write(directory)
    return path


def merged(*paths: Path) -> dict[str, Any]:
    return merge_verdicts([read_verdict(p) for p in paths])


def one_run(reports: list[Report]) -> dict[str, Any]:
    found = collector(reports)
    return found.verdict(found.targets[TARGET])


def faultline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], check=False, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


SHARE_A: list[Report] = [(["GW-AUTH-001", "GW-AUTH-003"], AUTH, "passed"),
                         (["GW-RETRY-004", "GW-RETRY-005"], SCHEDULE, "passed")]
SHARE_B: list[Report] = [(["GW-HEALTH-001"], HEALTH, "passed"), (["GW-RETRY-007"], RETRY_AFTER, "xfailed")]


def test_merging_the_shares_gives_the_verdict_of_one_run_of_all_of_them(tmp_path: Path) -> None:
    a = written(tmp_path / "a", collector(SHARE_A))
    b = written(tmp_path / "b", collector(SHARE_B))
    result = merged(a, b)
    assert result == one_run(SHARE_A + SHARE_B)
    assert result["clauses"]["GW-AUTH-001"]["result"] == "passed"
    assert result["clauses"]["GW-HEALTH-001"]["scenarios"] == [HEALTH]
    assert result["summary"]["must_passed"] == "6/6" and result["verdict"] == "pass"
    assert "GW-HEALTH-001" not in result["summary"]["not_covered"]


@pytest.mark.parametrize(("on_a", "on_b", "result"), [
    ("failed", "passed", "failed"), ("passed", "failed", "failed"), ("xpassed", "failed", "failed"),
    ("passed", "xpassed", "xpassed"), ("xfailed", "passed", "passed"), ("skipped", "xfailed", "xfailed"),
    ("skipped", None, "skipped"), (None, None, "not covered")])
def test_a_clause_split_across_machines_takes_the_worse_result(
        tmp_path: Path, on_a: str | None, on_b: str | None, result: str) -> None:
    share_a = [(["GW-RETRY-004"], SCHEDULE, on_a)] if on_a else []
    share_b = [(["GW-RETRY-004"], RETRY_AFTER, on_b)] if on_b else []
    a, b = written(tmp_path / "a", collector(share_a)), written(tmp_path / "b", collector(share_b))
    verdict = merged(a, b)
    assert verdict["clauses"]["GW-RETRY-004"]["result"] == result
    assert verdict == one_run(share_a + share_b)


def test_the_same_scenario_run_on_both_machines_counts_its_worse_outcome(tmp_path: Path) -> None:
    a = written(tmp_path / "a", collector([(["GW-HEALTH-001"], HEALTH, "passed")]))
    b = written(tmp_path / "b", collector([(["GW-HEALTH-001"], HEALTH, "failed")]))
    verdict = merged(a, b)
    assert verdict["clauses"]["GW-HEALTH-001"] == {"level": "MUST", "result": "failed", "scenarios": [HEALTH]}
    assert verdict["verdict"] == "fail" and verdict["summary"]["must_failed"] == ["GW-HEALTH-001"]


def test_run_facts_add_up_and_the_largest_tolerance_is_kept(tmp_path: Path) -> None:
    cut = collector(SHARE_B, tolerance=0.03)
    cut.status = RunStatus(selected=5, cut_short="stopping after 1 failures")
    verdict = merged(written(tmp_path / "a", collector(SHARE_A, tolerance=0.02)),
                     written(tmp_path / "b", cut), written(tmp_path / "c", collector([])))
    assert verdict["run"] == {"scenarios_reported": 4, "cut_short": "stopping after 1 failures"}
    assert verdict["timing_tolerance_seconds"] == 0.03
    spec = load_target_file(DEFAULT_TARGETS["gateway"])
    assert verdict["implementation"] == {"name": TARGET, "version": spec.version,
                                         "target_file": str(spec.path)}
    assert (verdict["profile"], verdict["kind"]) == ("gateway", spec.kind)
    assert verdict["time_scale"] == spec.time_scale
    assert merged(written(tmp_path / "d", collector([])))["timing_tolerance_seconds"] is None


def _edited(path: Path, key: str, value: Any) -> Path:
    data = json.loads(path.read_text())
    *parents, last = key.split(".")
    holder = data
    for part in parents:
        holder = holder[part]
    holder[last] = value
    out = path.with_name(f"edited-{key}.json")
    out.write_text(json.dumps(data))
    return out


DIFFERENT = {"implementation.name": "other-gateway", "profile": "hive", "kind": "docker",
             "implementation.version": "9.9.9", "suite_version": "0.0.1", "claimed_features": ["metrics"],
             "expected_failures": ["GW-STREAM-004"], "time_scale": 1.0, "coarse_time_scale": 0.5}


@pytest.mark.parametrize("key", SAME_TARGET)
def test_verdicts_of_different_targets_or_suites_are_refused_naming_the_file_and_key(tmp_path: Path,
                                                                                    key: str) -> None:
    a = written(tmp_path, collector(SHARE_A))
    other = _edited(a, key, DIFFERENT[key])
    with pytest.raises(MergeError, match=rf"^{re.escape(str(other))}: {key} is .*, but {re.escape(str(a))} "):
        merged(a, other)


def test_a_different_clause_catalogue_is_refused(tmp_path: Path) -> None:
    a = written(tmp_path, collector(SHARE_A))
    data = json.loads(a.read_text())
    del data["clauses"]["GW-HEALTH-001"]
    (b := tmp_path / "b.json").write_text(json.dumps(data))
    with pytest.raises(MergeError, match=re.escape(f"{b}: clause GW-HEALTH-001 is in {a} but not in {b}")):
        merged(a, b)
    with pytest.raises(MergeError, match="clause GW-HEALTH-001 is SHOULD, but"):
        merged(a, _edited(a, "clauses.GW-HEALTH-001.level", "SHOULD"))


@pytest.mark.parametrize(("content", "says"), [
    (None, "cannot read it (No such file or directory)"), ("{not json", "not JSON ("),
    ("[1, 2]", "not a verdict file (not a JSON object)"),
    ('{"implementation": {"name": "x"}}', "not a verdict file (no 'profile')"),
])
def test_a_file_that_is_not_a_verdict_is_refused_in_one_line(tmp_path: Path, content: str | None,
                                                              says: str) -> None:
    bad = tmp_path / "verdict-x.json"
    if content is not None:
        bad.write_text(content)
    with pytest.raises(MergeError) as refused:
        read_verdict(bad)
    assert str(refused.value).startswith(f"{bad}: {says}") and "\n" not in str(refused.value)


def test_a_clause_with_an_unknown_result_is_not_a_verdict(tmp_path: Path) -> None:
    a = written(tmp_path, collector(SHARE_A))
    with pytest.raises(MergeError, match="not a verdict file .clause GW-AUTH-001 needs"):
        read_verdict(_edited(a, "clauses.GW-AUTH-001.result", "green"))


def test_the_command_refuses_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    a = written(tmp_path / "a", collector(SHARE_A))
    b = _edited(a, "profile", "hive")
    out = tmp_path / "merged.json"
    refused = faultline("merge", str(a), str(b), "--out", str(out))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == f"faultline merge: {b}: profile is \"hive\", but {a} has \"gateway\"; " \
                             "only verdicts of one target and suite merge\n"
    missing = faultline("merge", str(a), str(tmp_path / "nope.json"), "--out", str(out))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith(f"faultline merge: {tmp_path / 'nope.json'}: cannot read it")
    assert not out.exists()


@pytest.fixture(scope="module")
def real_shares(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two machines' verdicts: one real run of the auth clause's scenario, one of the health clause's."""
    shares = []
    for marker in ("GW-AUTH-001", "GW-HEALTH-001"):
        reports = tmp_path_factory.mktemp(marker)
        run = faultline("run", "--profile", "gateway", "--workers", "0", "--reports-dir", str(reports),
                        "--", "-m", marker)
        assert run.returncode == 0, run.stdout + run.stderr
        shares.append(reports / f"verdict-{TARGET}.json")
    return shares[0], shares[1]


def test_the_command_merges_real_runs_into_their_union_and_passes(real_shares: tuple[Path, Path],
                                                                   tmp_path: Path) -> None:
    a, b = real_shares
    out = tmp_path / "reports" / f"verdict-{TARGET}.json"
    result = faultline("merge", str(a), str(b), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"faultline: merged 2 verdict file(s) into {out}; {TARGET} (gateway): pass; " \
                            "MUST 3/3, SHOULD 0/0\n"
    verdict, shares = json.loads(out.read_text()), [json.loads(p.read_text()) for p in real_shares]
    for cid, entry in verdict["clauses"].items():
        covered = [s["clauses"][cid] for s in shares if s["clauses"][cid]["result"] != "not covered"]
        assert entry["result"] == (covered[0]["result"] if covered else "not covered"), cid
        assert entry["scenarios"] == sorted(n for c in covered for n in c["scenarios"]), cid
    assert {cid for cid, c in verdict["clauses"].items() if c["result"] == "passed"} == \
        {"GW-AUTH-001", "GW-AUTH-003", "GW-HEALTH-001"}
    assert verdict["run"] == {"scenarios_reported": 2, "cut_short": None}


def test_the_command_exits_1_when_a_share_failed_a_must_clause(real_shares: tuple[Path, Path],
                                                               tmp_path: Path) -> None:
    a, b = real_shares
    failed = _edited(b, "clauses.GW-HEALTH-001.result", "failed")
    result = faultline("merge", str(a), str(failed), "--out", str(tmp_path / "merged.json"))
    assert result.returncode == 1, result.stderr
    assert "(gateway): fail; MUST 2/3, SHOULD 0/0; failed MUST clauses: GW-HEALTH-001" in result.stdout
