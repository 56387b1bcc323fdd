"""The `faultline` command as a user runs it: reports written, exit code from MUST clauses."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from harness.plugin import PROJECT_ROOT
from harness.wait import wait_until
from tests.commands import run_command


def faultline(*args: str) -> subprocess.CompletedProcess[str]:
    return run_command([sys.executable, "-m", "harness.cli", *args], cwd=PROJECT_ROOT, timeout=300)


def test_a_run_of_some_scenarios_writes_junit_and_verdicts_and_is_incomplete(tmp_path: Path) -> None:
    result = faultline("run", "--reports-dir", str(tmp_path), "--", "-k", "health_route")
    assert result.returncode == 3, result.stdout + result.stderr   # every other clause did not run
    suites = ET.parse(tmp_path / "junit.xml").getroot()
    assert int(suites.find("testsuite").get("tests")) >= 2  # type: ignore[union-attr, arg-type]
    for name, clause in (("reference-hive", "HIVE-HEALTH-001"), ("reference-gateway", "GW-HEALTH-001")):
        verdict = json.loads((tmp_path / f"verdict-{name}.json").read_text())
        assert verdict["verdict"] == "incomplete" and verdict["clauses"][clause]["result"] == "passed"
        assert verdict["summary"]["must_passed"].startswith("1/")
    assert "reference-gateway (gateway): incomplete; MUST 1/" in result.stdout
    assert "not run (deselected or not selected)" in result.stdout
    assert (tmp_path / "allure-results").is_dir()


def test_run_is_not_conformant_when_a_must_clause_fails(tmp_path: Path) -> None:
    target = tmp_path / "dead.toml"
    target.write_text('name = "dead-gateway"\nprofile = "gateway"\nkind = "url"\n'
                      '[url]\nbase_url = "http://127.0.0.1:9"\n[readiness]\ntimeout = 0.3\n')
    result = faultline("run", "--target", str(target), "--reports-dir", str(tmp_path / "r"),
                       "--", "-k", "health_route")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dead-gateway (gateway): not conformant" in result.stdout
    assert "failed: GW-HEALTH-001 (" in result.stdout
    assert "is not answering" in result.stdout  # the reason reaches the user, not a bare stack trace


def test_run_with_a_broken_target_file_names_the_mistake_and_exits_2(tmp_path: Path) -> None:
    target = tmp_path / "bad.toml"
    target.write_text('name = "x"\nprofile = "gateway"\nkind = "docker-compose"\n')
    result = faultline("run", "--target", str(target), "--reports-dir", str(tmp_path))
    assert result.returncode == 2
    assert f"{target}: [kind] must be one of process, docker, url" in result.stderr


def test_a_selection_that_matches_no_scenario_exits_2_saying_so(tmp_path: Path) -> None:
    result = faultline("run", "--profile", "hive", "--workers", "0", "--reports-dir", str(tmp_path),
                       "--", "-k", "no_scenario_is_called_this")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "faultline: no scenario matched the selection (pytest arguments: -k no_scenario_is_called_this)" \
        in result.stderr
    assert list(tmp_path.glob("verdict-*.json")) == []


def test_a_feature_file_or_a_clause_selects_its_scenarios_and_only_its_profile(tmp_path: Path) -> None:
    by_file = faultline("run", "features/hive/health.feature", "--reports-dir", str(tmp_path / "a"))
    assert by_file.returncode == 3, by_file.stdout + by_file.stderr
    assert [p.name for p in (tmp_path / "a").glob("verdict-*.json")] == ["verdict-reference-hive.json"]
    verdict = json.loads((tmp_path / "a" / "verdict-reference-hive.json").read_text())
    ran = {c["name"] for c in verdict["scenarios"].values() if c["outcome"] != "not run"}
    assert ran and all(c["outcome"] == "not run" or "health" in c["name"].lower() or "answers" in c["name"]
                       for c in verdict["scenarios"].values())
    assert "faultline: 2 workers (time scale 0.1" in by_file.stdout
    by_clause = faultline("run", "--clause", "GW-AUTH-002", "--reports-dir", str(tmp_path / "b"))
    assert by_clause.returncode == 3, by_clause.stdout + by_clause.stderr
    verdict = json.loads((tmp_path / "b" / "verdict-reference-gateway.json").read_text())
    assert [p.name for p in (tmp_path / "b").glob("verdict-*.json")] == ["verdict-reference-gateway.json"]
    assert {cid for cid, c in verdict["clauses"].items() if c["result"] == "passed"} >= {"GW-AUTH-002"}
    assert all("GW-AUTH-002" in c["clauses"] for c in verdict["scenarios"].values() if c["outcome"] != "not run")


def test_an_unknown_clause_is_a_usage_error_and_help_shows_the_pytest_pass_through(tmp_path: Path) -> None:
    result = faultline("run", "--clause", "GW-NOPE-001", "--reports-dir", str(tmp_path))
    assert result.returncode == 2 and "--clause GW-NOPE-001: not a clause of the catalogue" in result.stdout + \
        result.stderr
    usage = faultline("run", "--help")
    assert "[-- PYTEST_ARGUMENTS]" in usage.stdout and "faultline run -- -k breaker -x" in usage.stdout


def test_clauses_lists_the_catalogue_with_coverage() -> None:
    result = faultline("clauses", "--profile", "gateway")
    assert result.returncode == 0, result.stderr
    assert "GW-HEALTH-001" in result.stdout and "scenario(s)" in result.stdout
    assert "HIVE-" not in result.stdout.split("\n\n")[0]
    listed = json.loads(faultline("clauses", "--json").stdout)
    assert {row["id"] for row in listed} >= {"GW-HEALTH-001", "HIVE-HEALTH-001"}
    assert all(row["scenarios"] for row in listed if row["id"] in ("GW-ENV-002", "HIVE-ENV-002"))


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(proc: psutil.Process) -> str | None:
    """The process's command line while it runs (not a zombie), else None."""
    try:
        return " ".join(proc.cmdline()) if proc.status() != psutil.STATUS_ZOMBIE else None
    except psutil.Error:
        return None


def a_gateway_is_running(pid: int) -> bool:
    return any("reference.gateway" in (alive(p) or "") for p in descendants(pid))


@contextmanager
def a_run_in_the_background(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """`faultline run ARGS` with two workers and a TMPDIR of its own (yielded with it), in a session of
    its own; killed, with its group, if the test leaves it running."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", *args, "--workers", "2",
                             "--reports-dir", str(tmp_path / "reports")],
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TMPDIR": str(temp)}, start_new_session=True)
    try:
        yield proc, temp
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("to", ["faultline alone", "its process group"])
def test_sigterm_stops_a_run_like_ctrl_c_and_leaves_nothing(tmp_path: Path, to: str) -> None:
    with a_run_in_the_background(tmp_path, "--profile", "gateway") as (proc, temp):
        wait_until(lambda: a_gateway_is_running(proc.pid), timeout=60.0, what="the run's first gateway")
        started = descendants(proc.pid)
        if to == "faultline alone":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=90)
    assert proc.returncode == 130, output[-3000:]  # interrupted, not a verdict
    assert "stopped by signal SIGTERM" in output, output[-3000:]
    wait_until(lambda: not [p for p in started if alive(p)], timeout=15.0,
               what="every process the run started to be gone",
               describe=lambda: str(list(filter(None, map(alive, started)))))
    assert [p.name for p in temp.iterdir() if p.name.startswith("faultline-")] == []


def test_a_target_left_by_a_killed_worker_is_stopped_when_the_run_ends(tmp_path: Path) -> None:
    """pytest-xdist kills a worker that is slow to stop, before its fixtures stop its targets: the
    run still stops what that worker's target left (a target started outside the fork server, in a
    session of its own) and removes its directories."""
    source = (PROJECT_ROOT / "targets" / "reference-gateway.toml").read_text()
    unforked = re.sub(r"\npreload = \[.*?\]\n", "\n", source, flags=re.DOTALL)
    assert unforked != source and "preload" not in unforked.split("[process]")[1].split("[config]")[0]
    for relative, absolute in (('"{{ target_dir }}/.."', PROJECT_ROOT),
                               ('"reference-gateway.json.j2"', PROJECT_ROOT / "targets" / "reference-gateway.json.j2")):
        assert relative in unforked
        unforked = unforked.replace(relative, json.dumps(str(absolute)))
    target = tmp_path / "unforked-gateway.toml"
    target.write_text(unforked)
    gateway: psutil.Process | None = None
    with a_run_in_the_background(tmp_path, "--target", str(target)) as (proc, temp):
        try:
            found = wait_until(lambda: proc.poll() is not None or next(
                (p for p in descendants(proc.pid) if "reference.gateway" in (alive(p) or "")), None),
                timeout=60.0, what="the run's first gateway")
            assert isinstance(found, psutil.Process), proc.communicate()[0][-3000:]
            gateway = found
            worker = gateway.parent()
            assert worker is not None and "reference.gateway" not in (alive(worker) or "")
            worker.kill()   # as pytest-xdist kills a worker slow to stop: no teardown, no exit handlers
            wait_until(lambda: alive(worker) is None, timeout=15.0, what="the killed worker to be gone")
            assert alive(gateway), "the target went with its worker: nothing left to stop"
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=120)
        finally:
            if gateway is not None and alive(gateway):   # a broken run leaves it: this test's to stop
                gateway.kill()
    assert proc.returncode == 130, output[-3000:]
    assert alive(gateway) is None, output[-3000:]
    assert f"faultline: stopping 1 process(es) the run's targets left: {gateway.pid}" in output, output[-3000:]
    assert [p.name for p in temp.iterdir()] == []
