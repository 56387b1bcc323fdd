"""What a `faultline run` makes on the machine is gone when it returns, even where a pytest-xdist
worker was killed before it could clean up (a worker slow to stop is killed after 10 s, without
its fixtures' teardown or exit handlers).

The run gives pytest a temp dir of its own as TMPDIR, so every directory the harness and its
targets make goes there, and an id that starts every target's process marker. Once pytest's
whole process group is gone, it stops the processes still carrying one of its markers (a target
started outside the fork server, and anything a target spawned) and removes the temp dir.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.process_tree import RUN_MARKS_ENV, reap_or_kill, run_processes, terminate_leaf_first

LEFTOVER_GRACE = 5.0   # seconds a leftover process gets to stop on SIGTERM before SIGKILL


@contextmanager
def run_scope() -> Iterator[dict[str, str]]:
    """The environment pytest runs with; on leaving, what the run left is stopped and removed."""
    directory = Path(tempfile.mkdtemp(prefix="faultline-run-"))
    run = uuid.uuid4().hex[:16]
    try:
        yield {"TMPDIR": str(directory), RUN_MARKS_ENV: run}
    finally:
        previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            stop_leftovers(run)
            shutil.rmtree(directory, ignore_errors=True)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def stop_leftovers(run: str) -> None:
    left = run_processes(run)
    if not left:
        return
    print(f"faultline: stopping {len(left)} process(es) the run's targets left: "
          f"{', '.join(str(p.pid) for p in left)}", file=sys.stderr, flush=True)
    terminate_leaf_first(left)
    reap_or_kill(left, LEFTOVER_GRACE)
