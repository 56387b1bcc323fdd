"""Reading a JSON configuration section into a frozen dataclass, strictly: unknown keys are errors."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def section(cls: type, raw: Any, where: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object")
    known = {f.name for f in fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    return cls(**raw)
