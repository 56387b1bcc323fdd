"""Session hooks for the project's own tests."""

from __future__ import annotations

import time

import pytest

from harness.plugin import PROJECT_ROOT
from tests.defect_catch import write_table

REPORTS = PROJECT_ROOT / "reports"
_started = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Runs on the controller only, after every xdist worker has written its rows.
    table = write_table(REPORTS, since=_started)
    if table is not None:
        terminalreporter.write_line(f"defect-catch table: {table}")
