"""Runs of `faultline` and of the steps' pytest from the tests, to their end.

Each runs in a session of its own and gets exactly one stop request from the test: on Ctrl-C (or
SIGTERM) of the test run, and when it overruns its timeout, it is sent SIGTERM, as a user or a CI
timeout stops it, and is waited for while it stops its targets and removes its temp dirs.
`subprocess.run` would kill it a quarter of a second after a Ctrl-C, leaving both behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

STOP_WAIT = 90.0   # seconds a stopped run gets to clean up before it is killed


def run_command(args: Sequence[str], *, timeout: float, cwd: Path | None = None,
                env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `args` to its end and return its output (text), as `subprocess.run(..., capture_output=True)`."""
    with subprocess.Popen(list(args), cwd=cwd, env=None if env is None else dict(env), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as expired:
            stdout, stderr = _stop(proc)
            raise subprocess.TimeoutExpired(proc.args, timeout, stdout, stderr) from expired
        except KeyboardInterrupt:
            _stop(proc)
            raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM the run, wait for it to clean up; SIGKILL its group (ours: it leads it) if it cannot."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=STOP_WAIT)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.communicate()
