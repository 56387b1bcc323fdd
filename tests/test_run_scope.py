"""`faultline run`'s scope: pytest gets a temp dir and a marker prefix of the run's own, and what a
killed worker's targets left (processes carrying the run's markers, directories) is gone when the
run returns; nothing of another run is touched."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from harness.process_tree import MARKER_ENV, RUN_MARKS_ENV, new_marker
from harness.run_scope import run_scope

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def _alive(proc: subprocess.Popen[bytes]) -> bool:
    try:
        return psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_what_the_runs_targets_left_is_stopped_and_its_temp_dir_removed(capfd: pytest.CaptureFixture[str]) -> None:
    started: list[subprocess.Popen[bytes]] = []
    try:
        with run_scope() as env:
            directory = Path(env["TMPDIR"])
            assert directory.is_dir() and directory.name.startswith("faultline-run-")
            assert Path(tempfile.gettempdir()) in directory.parents   # under the user's TMPDIR
            (directory / "faultline-gateway-left").mkdir()
            ours = {**os.environ, MARKER_ENV: f"{env[RUN_MARKS_ENV]}-target"}
            others = {**os.environ, MARKER_ENV: f"{env[RUN_MARKS_ENV]}x-target"}   # another run's prefix
            started += [subprocess.Popen(SLEEPER, env=ours, start_new_session=True),
                        subprocess.Popen(SLEEPER, env=others, start_new_session=True)]
        leftover, unrelated = started
        leftover.wait(10)
        assert not directory.exists()
        assert _alive(unrelated), "a process of another run was stopped"
        assert f"faultline: stopping 1 process(es) the run's targets left: {leftover.pid}" in capfd.readouterr().err
    finally:
        for proc in started:   # a broken scope leaves them: they are this test's
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_run_that_left_nothing_says_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    with run_scope() as env:
        directory = Path(env["TMPDIR"])
    assert not directory.exists() and capfd.readouterr().err == ""


def test_a_targets_marker_starts_with_the_runs_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUN_MARKS_ENV, "run42")
    first, second = new_marker(), new_marker()
    assert first.startswith("run42-") and second.startswith("run42-") and first != second
    monkeypatch.delenv(RUN_MARKS_ENV)
    assert "-" not in new_marker()
