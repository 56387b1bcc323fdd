"""A run stops the same way whether it gets Ctrl-C or SIGTERM (a CI timeout, `kill`): pytest
unwinds as from KeyboardInterrupt, so every fixture stops its targets, proxies and containers and
removes its temp dirs. Inside `stop_requests_deferred` the KeyboardInterrupt waits for the block
to end, so starting a process and taking charge of it cannot be cut in two (an interrupted
`Popen` returns nothing, and its child would be nobody's to stop).

`faultline run` starts pytest in a process group of its own and forwards both signals to that
group, so pytest and its xdist workers each get the stop request once, whether it was sent to
`faultline` alone or to the terminal's whole group. It returns only when that whole group is gone:
a fork server outlives its worker for as long as it takes to stop what the worker left (a worker
slow to stop is killed by pytest-xdist without running its exit handlers) and to remove its
directory, and a run that has ended must have left nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psutil

from harness.process_tree import group_members

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Seconds the run's process group gets to empty once pytest has exited: a fork server's orphaned
# targets get 2 s to stop on SIGTERM, then the server removes its directory.
GROUP_EXIT_TIMEOUT = 15.0


@dataclass
class _StopRequests:
    deferring: int = 0
    pending: str | None = None


_requests = _StopRequests()


def install_stop_handlers() -> None:
    """In a pytest process: Ctrl-C and SIGTERM raise KeyboardInterrupt (SIGTERM once: a repeat
    would cut the cleanup short), deferred inside `stop_requests_deferred`."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in STOP_SIGNALS:
        signal.signal(signum, _on_stop_request)


def _on_stop_request(signum: int, frame: FrameType | None) -> None:
    if signum == signal.SIGTERM:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    reason = f"stopped by signal {signal.Signals(signum).name}"
    if _requests.deferring:
        _requests.pending = reason
        return
    raise KeyboardInterrupt(reason)


@contextmanager
def stop_requests_deferred() -> Iterator[None]:
    _requests.deferring += 1
    try:
        yield
    finally:
        _requests.deferring -= 1
        if not _requests.deferring and _requests.pending:
            reason, _requests.pending = _requests.pending, None
            raise KeyboardInterrupt(reason)


@dataclass(frozen=True)
class GroupRun:
    code: int                     # the command's exit code; 128 + N when signal N killed it
    stopped_by: str | None        # the stop signal passed on to it, if one came


def run_in_own_group(command: list[str], cwd: Path, env: dict[str, str] | None = None,
                     group_exit_timeout: float = GROUP_EXIT_TIMEOUT) -> GroupRun:
    """Run `command` to its end, passing Ctrl-C and SIGTERM on to its process group, and wait for
    the rest of the group; SIGKILL what is left of it after `group_exit_timeout` s, saying so."""
    forwarded: list[str] = []
    with subprocess.Popen(command, cwd=cwd, env=env, start_new_session=True) as proc:
        def forward(signum: int, frame: FrameType | None) -> None:
            forwarded.append(signal.Signals(signum).name)
            try:
                os.killpg(proc.pid, signum)  # the group we created: pytest and what it started
            except ProcessLookupError:
                pass

        previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
        try:
            code = proc.wait()
            wait_for_group_to_end(proc.pid, group_exit_timeout)
            # Killed by a signal: the shell's convention.
            return GroupRun(128 - code if code < 0 else code, forwarded[0] if forwarded else None)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def wait_for_group_to_end(pgid: int, timeout: float) -> None:
    """Wait until no live process is left in `pgid`, the group `run_in_own_group` created; after
    `timeout` s name what is left on stderr and SIGKILL the group."""
    deadline = time.monotonic() + timeout
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    if left:
        commands = "; ".join(_command_line(p) for p in left)
        print(f"faultline: {len(left)} process(es) of the run still running {timeout:g} s after pytest ended, "
              f"killed: {commands}", file=sys.stderr, flush=True)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _command_line(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} {' '.join(proc.cmdline())}"
    except psutil.Error:
        return str(proc.pid)
