"""How long the machine kept the implementation under test waiting for a core.

A retry the implementation sends late because the kernel left it runnable but not running is
the machine's doing, not the implementation's: on a 2-core runner busy with two suites, a
correct gateway's retries came 16-30 ms late while the harness's own event loop was held up
less. Linux counts that wait per thread (`/proc/<pid>/task/<tid>/schedstat`, its second field:
nanoseconds spent on a run queue), so it is measured rather than guessed, from the
implementation's side. The implementation's own work (a busy event loop) is not counted: that
lateness is its own.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

EVERY = 0.01         # seconds between two samples while a process is watched
KEEP = 3000          # samples kept: the last 30 s
NEAR = 0.05          # seconds on each side of a stamp in which a wait can have delayed it


def run_queue_wait(pid: int) -> dict[int, int] | None:
    """Each thread's nanoseconds spent waiting on a run queue so far, or None once the process is gone
    (or where the kernel does not report it)."""
    tasks = f"/proc/{pid}/task"
    try:
        tids = os.listdir(tasks)
    except OSError:
        return None
    waits = {}
    for tid in tids:
        try:
            with open(f"{tasks}/{tid}/schedstat", "rb") as stat:
                waits[int(tid)] = int(stat.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue          # a thread that just ended
    return waits


class RunQueueWait:
    """Samples the run-queue wait of the processes it watches every EVERY seconds, in a thread of
    its own that runs only while something is watched."""

    def __init__(self, every: float = EVERY, keep: int = KEEP) -> None:
        self._every = every
        self._samples: deque[tuple[float, float, float]] = deque(maxlen=keep)   # (from, to, seconds waited)
        self._last: dict[int, dict[int, int]] = {}        # pid -> tid -> ns waited at the last sample
        self._last_time = 0.0
        self._lock = threading.Lock()
        self._watching = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def watching(self, pid: int | None) -> Iterator[None]:
        """Watch `pid` (nothing when None: a target reached by URL) for the duration of the block."""
        if pid is None:
            yield
            return
        baseline = run_queue_wait(pid)
        with self._lock:
            if baseline is not None:
                if not self._last:
                    self._last_time = time.monotonic()
                self._last[pid] = baseline
            self._start_locked()
            self._watching.notify_all()
        try:
            yield
        finally:
            with self._lock:
                self._last.pop(pid, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._watching.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(1)

    def _start_locked(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="faultline-run-queue-wait", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._last and not self._closed:
                    self._watching.wait()
                if self._closed:
                    return
                pids = list(self._last)
            time.sleep(self._every)
            self.sample(pids)

    def sample(self, pids: Iterable[int] | None = None) -> None:
        """Record the wait since the last sample of the watched processes (threads that began since count whole)."""
        now = time.monotonic()
        read = {pid: run_queue_wait(pid) for pid in (list(self._last) if pids is None else pids)}
        with self._lock:
            waited = 0
            for pid, waits in read.items():
                before = self._last.get(pid)
                if before is None or waits is None:
                    continue
                waited += sum(max(0, ns - before.get(tid, 0)) for tid, ns in waits.items())
                self._last[pid] = waits
            self._samples.append((self._last_time, now, waited / 1e9))
            self._last_time = now

    def record(self, began: float, ended: float, waited: float) -> None:
        """A wait measured elsewhere: `waited` seconds between `began` and `ended`."""
        with self._lock:
            self._samples.append((began, ended, waited))

    def typical_since(self, since: float, q: float, near: float = NEAR) -> float:
        """A quantile `q` of the waits the watched processes showed over any 2 x `near` seconds
        since `since`: what a check's window around a stamp should expect to absorb."""
        with self._lock:
            samples = [sample for sample in self._samples if sample[1] >= since]
        windows = []
        total = 0.0
        first = 0
        for _, ended, wait in samples:
            total += wait
            while samples[first][1] < ended - 2 * near:     # ended before this window began
                total -= samples[first][2]
                first += 1
            windows.append(total)
        windows.sort()
        return windows[min(len(windows) - 1, int(q * len(windows)))] if windows else 0.0

    def over(self, spans: Iterable[tuple[float, float]], near: float = NEAR) -> float:
        """The most the watched processes waited for a core around one of these (start, end) spans:
        within `near` seconds of it, on either side (after a stamp the implementation acts on
        what it received; before one it was sending it)."""
        with self._lock:
            samples = list(self._samples)
        worst = 0.0
        for start, end in spans:
            waited = sum(wait for began, ended, wait in samples if ended >= start - near and began <= end + near)
            worst = max(worst, waited)
        return worst
