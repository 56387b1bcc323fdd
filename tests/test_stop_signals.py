"""Stop requests (Ctrl-C, SIGTERM) in a pytest process: raised as KeyboardInterrupt, except inside
`stop_requests_deferred`, where they wait for the block to end. `faultline run`'s pytest in a
process group of its own: the run returns once the whole group is gone."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.stop_signals import (GROUP_EXIT_TIMEOUT, install_stop_handlers, run_in_own_group,
                                  stop_requests_deferred)
from harness.wait import wait_until


@pytest.fixture(autouse=True)
def handlers() -> None:
    install_stop_handlers()


def test_a_stop_request_is_a_keyboard_interrupt_at_once() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt, match="stopped by signal SIGINT"):
        os.kill(os.getpid(), signal.SIGINT)
        steps.append("after the signal")
    assert steps == []


def test_inside_the_block_a_stop_request_waits_for_its_end() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt, match="stopped by signal SIGINT"):
        with stop_requests_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("after the signal")
            with stop_requests_deferred():  # nested blocks: raised when the outermost ends
                steps.append("nested")
            steps.append("end of the block")
        steps.append("after the block")
    assert steps == ["after the signal", "nested", "end of the block"]


def test_a_block_without_a_stop_request_raises_nothing() -> None:
    with stop_requests_deferred():
        pass


def _leave_a_child(child: str) -> list[str]:
    """A command that starts `child` (in the command's process group) and exits at once."""
    return [sys.executable, "-c", f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {child!r}])"]


def test_a_run_in_its_own_group_returns_only_when_the_whole_group_is_gone(tmp_path: Path) -> None:
    done = tmp_path / "done"
    child = f"import time; time.sleep(1.0); open({str(done)!r}, 'w').close()"
    started = time.monotonic()
    run = run_in_own_group(_leave_a_child(child), tmp_path)
    assert run.code == 0 and run.stopped_by is None
    assert done.exists(), "returned while a process of the group was still running"
    assert time.monotonic() - started < GROUP_EXIT_TIMEOUT


def test_what_is_left_of_the_group_after_the_timeout_is_killed_and_named(tmp_path: Path,
                                                                         capfd: pytest.CaptureFixture[str]) -> None:
    pid_file = tmp_path / "pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    try:
        run = run_in_own_group(_leave_a_child(child), tmp_path, group_exit_timeout=1.0)
        assert run.code == 0
        pid = wait_until(lambda: pid_file.exists() and int(pid_file.read_text() or 0), timeout=10.0,
                         what="the lingering process's pid")
        wait_until(lambda: _gone(pid), timeout=10.0, what="the lingering process to be killed")
        err = capfd.readouterr().err
        assert "faultline: 1 process(es) of the run still running 1 s after pytest ended, killed: " in err
        assert f"{pid} " in err and "time.sleep(600)" in err
    finally:   # a broken wait leaves the process running: it is this test's, stop it
        if pid_file.exists() and pid_file.read_text() and not _gone(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
