"""What every kind of target offers the harness once it runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.history import Recorder


@dataclass(frozen=True)
class TargetContext:
    """Values a target file's placeholders may use, plus where to record lifecycle events."""

    time_scale: float
    token: str
    values: Mapping[str, Any] = field(default_factory=dict)
    recorder: Recorder | None = None


class RunningTarget(Protocol):
    name: str
    base_url: str

    @property
    def pid(self) -> int | None: ...

    @property
    def temp_dir(self) -> Path | None: ...

    @property
    def run_marker(self) -> str | None: ...

    def is_running(self) -> bool: ...

    def log_tail(self, lines: int = 40) -> str: ...

    def log_text(self) -> str: ...

    def stop(self) -> None: ...


class Target(Protocol):
    def start(self, context: TargetContext) -> RunningTarget: ...
