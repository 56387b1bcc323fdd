"""The controller side of reporting: every scenario report feeds the collector; at the end of
the session (also one cut short) the verdicts and the conformance report are written.

Under pytest-xdist this runs on the controller only, from reports the workers serialised.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from harness.report.html import write_report
from harness.durations import CASE_PROPERTY, SCALE_PROPERTY, ExpectedDurations
from harness.timing import TOLERANCE_PROPERTY
from harness.verdict import VerdictCollector

REPORT_FILE = "conformance.html"
PAYLOAD_ATTRIBUTE = "faultline"   # set on test reports by harness.report.plugin


class VerdictRecorder:
    def __init__(self, collector: VerdictCollector) -> None:
        self.collector = collector
        self.interrupted: str | None = None
        self.took: dict[str, tuple[str, float, float]] = {}   # nodeid -> (case key, seconds so far, scale)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        selected = sum(1 for item in session.items if "clauses" in dict(item.user_properties))
        self.collector.status = replace(self.collector.status, selected=selected)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        # The controller never collects: scenarios are the items parametrised with a target name.
        names = "|".join(re.escape(n) for n in self.collector.targets)
        pattern = re.compile(rf"[\[-](?:{names})[\]-]") if names else None
        selected = sum(1 for i in ids if pattern and pattern.search(i))
        self.collector.status = replace(self.collector.status, selected=selected)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if "clauses" not in props:
            return
        tolerances = [float(cast(str, value)) for key, value in report.user_properties if key == TOLERANCE_PROPERTY]
        outcome = outcome_of(report)
        if SCALE_PROPERTY in props:
            case, seconds, _ = self.took.get(report.nodeid, (str(props.get(CASE_PROPERTY, "")), 0.0, 0.0))
            self.took[report.nodeid] = (case, seconds + report.duration, float(cast(str, props[SCALE_PROPERTY])))
        self.collector.add_report(
            str(props["target"]), str(props["clauses"]).split(","), report.nodeid, outcome,
            case=str(props.get("scenario", "")), duration=report.duration,
            failure=report.longreprtext if report.failed else "", reason=reason_of(report, outcome),
            payload=getattr(report, PAYLOAD_ATTRIBUTE, None),
            tolerances=tolerances)

    def _write_durations(self, directory: Path) -> None:
        """What each scenario that ran took, for the next run to start the longest first."""
        durations = ExpectedDurations()
        for case, seconds, scale in self.took.values():
            durations.record(case, seconds, scale)
        durations.write(directory, ExpectedDurations.read(directory).spec_seconds)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.interrupted = str(excinfo.value).strip() or "interrupted (Ctrl-C)"

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput") or not self.collector.scenarios:
            return
        reason = self.interrupted or session.shouldfail or session.shouldstop
        self.collector.status = replace(self.collector.status, cut_short=str(reason) if reason else None)
        directory = Path(session.config.getoption("reports_dir"))
        self.collector.write(directory)
        self._write_durations(directory)
        write_report(self.collector, directory / REPORT_FILE, time.strftime("%Y-%m-%d %H:%M:%S %Z"))


def reason_of(report: pytest.TestReport, outcome: str | None) -> str:
    """Why a phase ended as it did, in one line: the skip reason, the failure's gist, or why an
    expected failure passed; empty for a plain pass."""
    if outcome == "skipped":
        return skip_reason(report)
    if outcome in ("failed", "xfailed"):
        # A failure outside the steps (a fixture) says so: it judged nothing about the target.
        return crash_message(report) if report.when == "call" else f"{report.when} failed: {crash_message(report)}"
    if outcome == "xpassed":
        return str(getattr(report, "wasxfail", "") or report.longreprtext).strip()
    return ""


def skip_reason(report: pytest.TestReport) -> str:
    """A skipped report's longrepr is (path, line, "Skipped: reason")."""
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return report.longreprtext.strip()


def crash_message(report: pytest.TestReport) -> str:
    """The failure's gist: the exception message pytest shows in its short summary."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    lines = report.longreprtext.strip().splitlines()
    return lines[-1] if lines else ""


def outcome_of(report: pytest.TestReport) -> str | None:
    """The scenario outcome one phase report decides, or None (a passing setup or teardown)."""
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if report.failed and str(report.longrepr).startswith("[XPASS(strict)]"):
            return "xpassed"
        if xfail:
            return "xfailed" if report.skipped else "xpassed"
        return report.outcome
    if report.failed:
        return "failed"
    if report.when == "setup" and report.skipped:
        return "xfailed" if xfail else "skipped"
    return None
