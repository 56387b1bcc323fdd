"""How long each scenario is expected to take, so a run can start the longest first.

Many workers finish together only when the long scenarios start early (longest processing time
first); a long scenario picked up last keeps the whole run waiting on it. Each run writes what
its scenarios took, in spec seconds (real seconds over the scenario's time scale), to
`scenario-durations.json` in its reports directory; the next run reads it. Without it, the tags
give a rough order: @slow scenarios, then @coarse-timing ones, then the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE = "scenario-durations.json"
CASE_PROPERTY = "scenario"           # the user property holding a scenario's case key
SCALE_PROPERTY = "time_scale"        # the user property holding the scale it ran at
GUESS = {"slow": 400.0, "coarse-timing": 120.0}   # spec seconds, when no earlier run says
DEFAULT_GUESS = 10.0


@dataclass
class ExpectedDurations:
    spec_seconds: dict[str, float] = field(default_factory=dict)     # case key -> seconds / scale

    @classmethod
    def read(cls, reports: Path) -> ExpectedDurations:
        try:
            raw = json.loads((reports / FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        return cls({str(k): float(v) for k, v in raw.items() if isinstance(v, (int, float))}
                   if isinstance(raw, dict) else {})

    def estimate(self, item: Any) -> float:
        """Spec seconds a collected scenario is expected to take (its order key, longest first)."""
        props = dict(getattr(item, "user_properties", []))
        known = self.spec_seconds.get(str(props.get(CASE_PROPERTY, "")))
        if known is not None:
            return known
        marks = {m.name for m in item.iter_markers()}
        return max((seconds for tag, seconds in GUESS.items() if tag in marks), default=DEFAULT_GUESS)

    def record(self, case: str, seconds: float, scale: float) -> None:
        if case and scale > 0:
            self.spec_seconds[case] = seconds / scale

    def write(self, reports: Path, earlier: Mapping[str, float] | None = None) -> None:
        merged = {**(earlier or {}), **self.spec_seconds}
        (reports / FILE).write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n", encoding="utf-8")
