"""Running `faultline run` as a whole command and reading back what each scenario did."""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FAULTLINE = [sys.executable, "-m", "harness.cli"]


@dataclass(frozen=True)
class Scenario:
    name: str
    seconds: float
    outcome: str            # passed, failed, skipped
    message: str = ""


@dataclass(frozen=True)
class SuiteRun:
    wall: float
    returncode: int
    scenarios: dict[str, Scenario]
    reports: Path

    @property
    def failures(self) -> list[Scenario]:
        return [s for s in self.scenarios.values() if s.outcome == "failed"]


def run_suite(reports: Path, workers: int = 2, pytest_args: tuple[str, ...] = (), timeout: float = 1800) -> SuiteRun:
    command = FAULTLINE + ["run", "--reports-dir", str(reports), "--workers", str(workers)]
    command += ["--", *pytest_args] if pytest_args else []
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    return SuiteRun(wall, completed.returncode, read_junit(reports / "junit.xml"), reports)


def read_junit(path: Path) -> dict[str, Scenario]:
    if not path.exists():
        return {}
    scenarios = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is not None:
            lines = (problem.get("message") or "").splitlines() or [""]
            outcome, message = "failed", lines[0][:300]
        elif case.find("skipped") is not None:
            outcome, message = "skipped", ""
        else:
            outcome, message = "passed", ""
        scenarios[name] = Scenario(name, float(case.get("time", 0)), outcome, message)
    return scenarios
