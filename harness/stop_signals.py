"""A run stops the same way whether it gets Ctrl-C or SIGTERM (a CI timeout, `kill`): pytest
unwinds as from KeyboardInterrupt, so every fixture stops its targets, proxies and containers and
removes its temp dirs. Inside `stop_requests_deferred` the KeyboardInterrupt waits for the block
to end, so starting a process and taking charge of it cannot be cut in two (an interrupted
`Popen` returns nothing, and its child would be nobody's to stop).

`faultline run` starts pytest in a process group of its own and forwards both signals to that
group, so pytest and its xdist workers each get the stop request once, whether it was sent to
`faultline` alone or to the terminal's whole group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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


def run_in_own_group(command: list[str], cwd: Path) -> GroupRun:
    """Run `command` to its end, passing Ctrl-C and SIGTERM on to its process group."""
    forwarded: list[str] = []
    with subprocess.Popen(command, cwd=cwd, start_new_session=True) as proc:
        def forward(signum: int, frame: FrameType | None) -> None:
            forwarded.append(signal.Signals(signum).name)
            try:
                os.killpg(proc.pid, signum)  # the group we created: pytest and what it started
            except ProcessLookupError:
                pass

        previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
        try:
            code = proc.wait()
            # Killed by a signal: the shell's convention.
            return GroupRun(128 - code if code < 0 else code, forwarded[0] if forwarded else None)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
