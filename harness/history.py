"""The scenario history: every observable event, stamped with a monotonic clock.

Fakes, proxies and process supervisors record into it from any thread; Then steps and
checkers read it back. Timestamps are `time.monotonic()` seconds, so they can be compared
across every recorder of one harness process.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Protocol


class EventKind(StrEnum):
    REQUEST = "request"                    # a request arrived at a fake
    # A request the implementation made on its own (a model listing at start, a health probe):
    # evidence of what it did, never one of a call's attempts.
    OWN_REQUEST = "own_request"
    RESPONSE = "response"                  # a fake finished answering
    CONNECTION_OPEN = "connection_open"    # a TCP connection reached a fake or proxy
    CONNECTION_CLOSE = "connection_close"
    PROCESS_START = "process_start"
    PROCESS_EXIT = "process_exit"
    SIGNAL_SENT = "signal_sent"
    FAULT_APPLIED = "fault_applied"
    FAULT_REMOVED = "fault_removed"
    NOTE = "note"


@dataclass(frozen=True)
class Event:
    t: float
    kind: EventKind
    source: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"t": self.t, "kind": str(self.kind), "source": self.source, "data": self.data},
                          default=str, sort_keys=True)


class Recorder(Protocol):
    """What a fake or supervisor needs: somewhere to put events."""

    def record(self, kind: EventKind, source: str, **data: Any) -> Event: ...


class History:
    """Thread-safe, append-only event log, optionally mirrored to a JSON-lines file."""

    def __init__(self, path: Path | None = None) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._file: IO[str] | None = None
        self.path = path
        self.created = time.monotonic()   # the origin of the relative times evidence prints
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8")

    def record(self, kind: EventKind, source: str, **data: Any) -> Event:
        with self._changed:
            # Stamped under the lock, so the log's order is the order of the timestamps.
            event = Event(time.monotonic(), EventKind(kind), source, data)
            self._events.append(event)
            if self._file is not None:
                self._file.write(event.to_json() + "\n")
                self._file.flush()
            self._changed.notify_all()
        return event

    def events(self, kind: EventKind | None = None, source: str | None = None,
               since: float | None = None) -> list[Event]:
        with self._lock:
            snapshot = list(self._events)
        return [e for e in snapshot
                if (kind is None or e.kind == kind)
                and (source is None or e.source == source or e.source.startswith(source + ":"))
                and (since is None or e.t >= since)]

    def times(self, kind: EventKind, source: str | None = None) -> list[float]:
        return [e.t for e in self.events(kind, source)]

    def wait_for(self, kind: EventKind, source: str | None = None, count: int = 1,
                 timeout: float = 5.0) -> list[Event]:
        """Block until at least `count` matching events exist; return them (maybe fewer on timeout)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                matching = [e for e in self._events if e.kind == kind
                            and (source is None or e.source == source or e.source.startswith(source + ":"))]
                remaining = deadline - time.monotonic()
                if len(matching) >= count or remaining <= 0:
                    return matching
                self._changed.wait(remaining)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events())

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class RecorderSwitch:
    """A recorder for long-lived things (the session's proxy server) that writes into whichever
    scenario history is current, and drops events between scenarios."""

    def __init__(self) -> None:
        self._target: Recorder | None = None
        self._lock = threading.Lock()

    def attach(self, target: Recorder | None) -> None:
        with self._lock:
            self._target = target

    def record(self, kind: EventKind, source: str, **data: Any) -> Event:
        with self._lock:
            target = self._target
        if target is None:
            return Event(time.monotonic(), EventKind(kind), source, data)
        return target.record(kind, source, **data)
