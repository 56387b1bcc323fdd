"""Running `faultline run` as a whole command and reading back what each scenario did."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FAULTLINE = [sys.executable, "-m", "harness.cli"]
STOP_TIMEOUT = 120  # a stopped run still tears down every scenario in flight


@dataclass(frozen=True)
class Scenario:
    name: str
    seconds: float
    outcome: str            # passed, failed, skipped
    message: str = ""
    rerun: str = ""         # why its result is a second run's (harness.rerun), if it is


@dataclass(frozen=True)
class SuiteRun:
    wall: float
    returncode: int
    scenarios: dict[str, Scenario]
    reports: Path
    verdicts: tuple[dict[str, Any], ...] = ()

    @property
    def failures(self) -> list[Scenario]:
        return [s for s in self.scenarios.values() if s.outcome == "failed"]

    @property
    def reruns(self) -> list[Scenario]:
        return [s for s in self.scenarios.values() if s.rerun]

    @property
    def unverified(self) -> list[str]:
        """Each applicable MUST clause a target's verdict left not verified, with its first reason."""
        return [f"{v['implementation']['name']} {cid}: {reasons[0] if reasons else ''}" for v in self.verdicts
                for cid, reasons in v["summary"]["must_not_verified"].items()]


def run_suite(reports: Path, workers: int | None = 2, pytest_args: tuple[str, ...] = (), timeout: float = 1800,
              options: tuple[str, ...] = ()) -> SuiteRun:
    """`faultline run` with `options` (targets, --slow); workers None lets faultline choose."""
    command = FAULTLINE + ["run", "--reports-dir", str(reports), *options]
    command += ["--workers", str(workers)] if workers is not None else []
    command += ["--", *pytest_args] if pytest_args else []
    start = time.perf_counter()
    with subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        try:
            proc.communicate(timeout=timeout)
        except BaseException:  # a timeout, Ctrl-C or SIGTERM: faultline stops its run as it would on Ctrl-C
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=STOP_TIMEOUT)
            raise
    wall = time.perf_counter() - start
    verdicts = tuple(json.loads(p.read_text()) for p in sorted(reports.glob("verdict-*.json")))
    return SuiteRun(wall, proc.returncode, read_junit(reports / "junit.xml"), reports, verdicts)


def read_junit(path: Path) -> dict[str, Scenario]:
    if not path.exists():
        return {}
    scenarios = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is not None:
            # "N check(s) failed:" says nothing alone: the failed checks follow it, one a line
            lines = [line.strip() for line in (problem.get("message") or "").splitlines() if line.strip()]
            outcome, message = "failed", " / ".join(lines[:4])[:600]
        elif case.find("skipped") is not None:
            outcome, message = "skipped", ""
        else:
            outcome, message = "passed", ""
        rerun = next((p.get("value", "") for p in case.iter("property") if p.get("name") == "rerun"), "")
        scenarios[name] = Scenario(name, float(case.get("time", 0)), outcome, message, rerun)
    return scenarios
