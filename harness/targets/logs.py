"""Reading a target's log file: all of it for log steps, the last lines for evidence and errors."""

from __future__ import annotations

from collections import deque
from pathlib import Path


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as log:
            tail = deque(log, maxlen=lines)
    except OSError:
        return ""
    return b"".join(tail).decode("utf-8", "replace").rstrip()


def log_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
