"""The fakes' journal: one JSON object per line, appended by every fake process.

Each line is written with a single `write` on an O_APPEND descriptor, so lines from concurrent
workers never interleave. Then steps read it through `read_journal` and the helpers below; the
journal is the fakes' own account, independent of what the hive under test reports.

Entry kinds (every entry has `kind`, `t` (epoch seconds), `mono` (time.monotonic()), `pid`, and `worker_id`
for workers):
    nvidia_smi          argv, exit_code
    start               argv, backend, device, model, model_ref, port, callback_url
    startup_failed      code, message            (the worker then exits 1)
    loading             load_seconds (real)   (signal handlers are installed from here on)
    loaded
    ready_callback      url, status | error      (payload is the body that was posted)
    listening           port
    inference_started   job_id, tokens_planned, correlation_id (the X-Correlation-ID it was sent, or null)
    inference_fault     job_id, fault ("oom" | "fail" | "crash" | "hang"), tokens_sent
    inference_finished  job_id, tokens_sent, stop_reason
    client_disconnected job_id, tokens_sent
    inference_aborted   job_id, tokens_sent      (the worker stopped while streaming; no [DONE])
    signal              signal ("SIGTERM" | "SIGINT"), ignored
    shutdown_requested  (POST /v1/shutdown)
    exit                code, reason
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JOURNAL_ENV = "FAULTLINE_WORKER_JOURNAL"


class Journal:
    """Appends entries for one process; a journal without a path records nothing."""

    def __init__(self, path: str | Path | None, **stamp: Any) -> None:
        self.path = Path(path) if path else None
        self.stamp = stamp

    @classmethod
    def from_env(cls, **stamp: Any) -> Journal:
        return cls(os.environ.get(JOURNAL_ENV) or None, **stamp)

    def write(self, kind: str, **fields: Any) -> None:
        if self.path is None:
            return
        # `mono` is CLOCK_MONOTONIC, the clock of the harness's own history on this machine.
        entry = {"kind": kind, "t": time.time(), "mono": time.monotonic(), "pid": os.getpid(), **self.stamp,
                 **fields}
        line = (json.dumps(entry, default=str) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class JournalEntry:
    kind: str
    t: float
    pid: int
    worker_id: str | None
    fields: dict[str, Any] = field(default_factory=dict)
    mono: float = 0.0       # time.monotonic() when written: comparable with the harness's history

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    @property
    def backend(self) -> str | None:
        return self.fields.get("backend")

    @property
    def device(self) -> int | None:
        return self.fields.get("device")

    @property
    def code(self) -> Any:
        return self.fields.get("code")


def read_journal(path: str | Path) -> list[JournalEntry]:
    """All entries so far; a missing file is an empty journal, a torn last line is skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            continue  # a writer mid-line; the next read sees it whole
        if not isinstance(raw, dict):
            continue
        kind, t, pid, worker = raw.pop("kind", ""), raw.pop("t", 0.0), raw.pop("pid", 0), raw.pop("worker_id", None)
        mono = raw.pop("mono", 0.0)
        entries.append(JournalEntry(str(kind), float(t), int(pid), worker, raw, float(mono)))
    return entries


def of_kind(entries: Iterable[JournalEntry], kind: str, worker_id: str | None = None) -> list[JournalEntry]:
    return [e for e in entries if e.kind == kind and (worker_id is None or e.worker_id == worker_id)]


def workers_started(entries: Iterable[JournalEntry], backend: str | None = None,
                    device: int | None = None) -> list[JournalEntry]:
    """`start` entries, optionally only those for one backend / device (e.g. proof of no CPU worker)."""
    return [e for e in of_kind(entries, "start")
            if (backend is None or e.backend == backend) and (device is None or e.device == device)]


def signals_received(entries: Iterable[JournalEntry], worker_id: str | None = None) -> list[str]:
    return [str(e.get("signal")) for e in of_kind(entries, "signal", worker_id)]


def exits(entries: Iterable[JournalEntry], worker_id: str | None = None) -> list[int]:
    """Exit codes the workers recorded themselves; a SIGKILLed worker records none."""
    return [int(e.get("code")) for e in of_kind(entries, "exit", worker_id)]


def startup_failures(entries: Iterable[JournalEntry], worker_id: str | None = None) -> list[str]:
    return [str(e.code) for e in of_kind(entries, "startup_failed", worker_id)]


def ready_callbacks(entries: Iterable[JournalEntry], worker_id: str | None = None) -> list[JournalEntry]:
    return of_kind(entries, "ready_callback", worker_id)


def worker_pids(entries: Iterable[JournalEntry], worker_id: str | None = None) -> list[int]:
    return [e.pid for e in of_kind(entries, "start", worker_id)]


@dataclass(frozen=True)
class WorkerJournal:
    """A journal file as Then steps see it: every query reads the file afresh."""

    path: Path

    def entries(self) -> list[JournalEntry]:
        return read_journal(self.path)

    def workers_started(self, backend: str | None = None, device: int | None = None) -> list[JournalEntry]:
        return workers_started(self.entries(), backend, device)

    def signals_received(self, worker_id: str | None = None) -> list[str]:
        return signals_received(self.entries(), worker_id)

    def exits(self, worker_id: str | None = None) -> list[int]:
        return exits(self.entries(), worker_id)

    def startup_failures(self, worker_id: str | None = None) -> list[str]:
        return startup_failures(self.entries(), worker_id)

    def of_kind(self, kind: str, worker_id: str | None = None) -> list[JournalEntry]:
        return of_kind(self.entries(), kind, worker_id)
