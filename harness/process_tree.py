"""Stopping a process tree we started: SIGTERM leaf first, a bounded wait, then SIGKILL.

Only processes we can prove we started are touched: the root pid we spawned, its descendants,
and processes that inherited our per-target run marker in their environment (workers that were
re-parented when their parent died). Under `faultline run` a marker starts with the run's id, so
the run can find what the targets of a killed worker left.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable

import psutil

MARKER_ENV = "FAULTLINE_RUN_MARKER"
RUN_MARKS_ENV = "FAULTLINE_RUN_MARKS"   # set by `faultline run`: the start of its targets' markers


def new_marker() -> str:
    """A marker for one target, starting with the run's id when `faultline run` set one."""
    run = os.environ.get(RUN_MARKS_ENV)
    return f"{run}-{uuid.uuid4().hex}" if run else uuid.uuid4().hex


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def marked_processes(marker: str) -> list[psutil.Process]:
    """Live processes whose environment carries `marker` (one target's marker)."""
    return _live_processes(lambda proc: proc.environ().get(MARKER_ENV) == marker)


def run_processes(run: str) -> list[psutil.Process]:
    """Live processes of any target of the run whose markers start with `run`."""
    return _live_processes(lambda proc: proc.environ().get(MARKER_ENV, "").startswith(f"{run}-"))


def group_members(pgid: int) -> list[psutil.Process]:
    """Live processes of process group `pgid`."""
    return _live_processes(lambda proc: os.getpgid(proc.pid) == pgid)


def _live_processes(matches: Callable[[psutil.Process], bool]) -> list[psutil.Process]:
    """Processes other than this one, not zombies, that `matches`; those that vanish or cannot be
    read meanwhile are left out."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if matches(proc) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def _depth(proc: psutil.Process) -> int:
    depth = 0
    try:
        parent = proc.parent()
        while parent is not None and depth < 64:
            depth += 1
            parent = parent.parent()
    except psutil.Error:
        pass
    return depth


def terminate_leaf_first(procs: list[psutil.Process]) -> None:
    for proc in sorted(procs, key=_depth, reverse=True):
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass


def reap_or_kill(procs: list[psutil.Process], grace: float) -> list[int]:
    """Wait up to `grace` s for `procs` to exit, SIGKILL the rest; return the pids killed."""
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=max(grace, 1.0))  # SIGKILL cannot be refused
    return [proc.pid for proc in alive]
