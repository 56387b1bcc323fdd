"""Running the conformance suite against a reference started with one defect."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from harness.plugin import DEFAULT_TARGETS, PROJECT_ROOT


@dataclass(frozen=True)
class SuiteRun:
    returncode: int
    failed: tuple[str, ...]
    passed: tuple[str, ...]
    output: str
    messages: dict[str, str]        # each failed scenario's failure message

    def failed_on(self, pattern: str) -> tuple[str, ...]:
        """The failed scenarios whose failure message matches `pattern` (any, when it is empty)."""
        return tuple(name for name in self.failed if re.search(pattern, self.messages.get(name, ""), re.S))


def reference_target_text(profile: str, suffix: str) -> str:
    """The reference target file's text, named `<name>-<suffix>`, fit to be written anywhere."""
    text = DEFAULT_TARGETS[profile].read_text()
    text = re.sub(r'^name = "([^"]+)"', rf'name = "\1-{suffix}"', text, count=1, flags=re.M)
    # The copy lives elsewhere: a template file named relative to the original must stay findable.
    return re.sub(r'^template_file = "([^"/][^"]*)"',
                  lambda m: f'template_file = "{DEFAULT_TARGETS[profile].parent / m.group(1)}"', text, flags=re.M)


def defect_target(tmp_path: Path, profile: str, defect: str) -> Path:
    """The reference target file, renamed and started with `--defect NAME`."""
    text = reference_target_text(profile, defect)
    for module in (f"reference.{profile}", f"reference.{profile}.cli"):  # the daemon, and a CLI if any
        text = text.replace(f'["{{{{ python }}}}", "-m", "{module}",',
                            f'["{{{{ python }}}}", "-m", "{module}", "--defect", "{defect}",')
    assert "--defect" in text, "the reference target file's command has an unexpected shape"
    path = tmp_path / f"{profile}-{defect}.toml"
    path.write_text(text)
    return path


def run_suite(tmp_path: Path, profile: str, target: Path, marker: str, timeout: float = 600) -> SuiteRun:
    junit = tmp_path / "junit.xml"
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", str(PROJECT_ROOT / "steps" / f"test_{profile}.py"), "--target", str(target),
         "-m", marker, "-q", "-p", "no:cacheprovider", "--reports-dir", str(tmp_path / "reports"),
         f"--junitxml={junit}"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)
    failed, passed, messages = [], [], {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            name = case.get("name", "")
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if problem is not None:
                failed.append(name)
                messages[name] = (problem.get("message") or "") + "\n" + (problem.text or "")
            elif case.find("skipped") is None:
                passed.append(name)
    return SuiteRun(completed.returncode, tuple(failed), tuple(passed),
                    completed.stdout[-3000:] + completed.stderr[-2000:], messages)
