"""Reading a target's log file: all of it for log steps, the last lines for evidence and errors.
For a service the harness did not start, only what it wrote from an offset on (`since`)."""

from __future__ import annotations

from collections import deque
from pathlib import Path


def log_tail(path: Path, lines: int = 40, since: int = 0) -> str:
    try:
        with path.open("rb") as log:
            log.seek(_start(log.seek(0, 2), since))
            tail = deque(log, maxlen=lines)
    except OSError:
        return ""
    return b"".join(tail).decode("utf-8", "replace").rstrip()


def log_text(path: Path, since: int = 0) -> str:
    try:
        with path.open("rb") as log:
            log.seek(_start(log.seek(0, 2), since))
            return log.read().decode("utf-8", "replace")
    except OSError:
        return ""


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _start(size: int, since: int) -> int:
    return since if since <= size else 0  # a shorter file was rotated or truncated: all of it is new
