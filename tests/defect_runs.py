"""Running the conformance suite against a reference started with one defect."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from catalogue import catalogue
from harness.coverage import scenario_cases
from harness.plugin import DEFAULT_TARGETS, PROJECT_ROOT
from harness.jitter import JitterResolution
from harness.timing import resolutions_of
from tests.commands import run_command


_CASES = scenario_cases(PROJECT_ROOT / "features", catalogue(), PROJECT_ROOT)


@dataclass(frozen=True)
class SuiteRun:
    returncode: int
    output: str
    verdict: dict[str, Any] | None      # the run's verdict file: every case with its outcome and reason

    def outcomes(self, outcome: str) -> tuple[str, ...]:
        """The names of the applicable cases that ended so."""
        scenarios = (self.verdict or {}).get("scenarios", {}).values()
        return tuple(c["name"] for c in scenarios if c["applies"] and c["outcome"] == outcome)


def judged_on_jitter(clauses: Iterable[str]) -> bool:
    """Whether a scenario of these clauses (one a defect run selects: not @slow) checks retry
    jitter, the one timed check that resolves spreads as small as the tolerance: there another
    process's burst of work can spread a fixed delay into seeming jitter, and mask the defect
    (the steps' timed phrases must be registered)."""
    named = set(clauses)
    return any(isinstance(resolution, JitterResolution)
               for case in _CASES if named & set(case.clauses) and not case.slow
               for resolution in resolutions_of(text for _, text in case.steps))


def reference_target_text(profile: str, suffix: str) -> str:
    """The reference target file's text, named `<name>-<suffix>`, fit to be written anywhere."""
    text = DEFAULT_TARGETS[profile].read_text()
    text = re.sub(r'^name = "([^"]+)"', rf'name = "\1-{suffix}"', text, count=1, flags=re.M)
    # The copy lives elsewhere: a template file named relative to the original must stay findable.
    return re.sub(r'^template_file = "([^"/][^"]*)"',
                  lambda m: f'template_file = "{DEFAULT_TARGETS[profile].parent / m.group(1)}"', text, flags=re.M)


def defect_target(tmp_path: Path, profile: str, defect: str, readiness_status: int | None = None) -> Path:
    """The reference target file, renamed and started with `--defect NAME` (and, for a defect whose
    readiness route answers otherwise once it is up, that status)."""
    text = reference_target_text(profile, defect)
    if readiness_status is not None:
        text, replaced = re.subn(r"^(\[readiness\][^\[]*?^status = )\d+", rf"\g<1>{readiness_status}", text, count=1,
                                 flags=re.M | re.S)
        assert replaced, "the reference target file has no [readiness] status to replace"
    for module in (f"reference.{profile}", f"reference.{profile}.cli"):  # the daemon, and a CLI if any
        text = text.replace(f'["{{{{ python }}}}", "-m", "{module}",',
                            f'["{{{{ python }}}}", "-m", "{module}", "--defect", "{defect}",')
    assert "--defect" in text, "the reference target file's command has an unexpected shape"
    path = tmp_path / f"{profile}-{defect}.toml"
    path.write_text(text)
    return path


def run_suite(tmp_path: Path, profile: str, target: Path, marker: str, timeout: float = 600) -> SuiteRun:
    """The scenarios of `marker` (clause tags) against `target`, in one process, with their verdict."""
    reports = tmp_path / "reports"
    completed = run_command(
        [sys.executable, "-m", "pytest", str(PROJECT_ROOT / "steps" / f"test_{profile}.py"), "--target", str(target),
         "-m", marker, "-q", "-p", "no:cacheprovider", "--reports-dir", str(reports)],
        cwd=PROJECT_ROOT, timeout=timeout)
    verdicts = sorted(reports.glob("verdict-*.json"))
    verdict = json.loads(verdicts[0].read_text()) if verdicts else None
    return SuiteRun(completed.returncode, completed.stdout[-3000:] + completed.stderr[-2000:], verdict)
