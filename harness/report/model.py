"""What a timed check compared, as plain data: instants on lanes against the windows allowed.

A Then step that checks timing records one `TimedCheck`; the report draws exactly that. Times
are real seconds relative to the check's origin (the first attempt, or the request sent).
`to_data`/`from_data` give JSON-safe dicts, because the record travels from an xdist worker to
the controller inside a test report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["inside", "outside", "free"]


def anchor(*parts: str) -> str:
    """An HTML id from parts (target names, clause ids), shared by the report and its Allure links."""
    return "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", p) for p in parts)


def clause_anchor(target: str, clause_id: str) -> str:
    return anchor("clause", target, clause_id)


@dataclass(frozen=True)
class Span:
    low: float
    high: float
    label: str = ""

    def holds(self, t: float) -> bool:
        return self.low <= t <= self.high


@dataclass(frozen=True)
class Lane:
    """One row of a timeline. Its marks must fall inside one of its windows when it is
    `constrained`; a constrained lane without windows (an attempt past the last one allowed)
    has nowhere its marks may be. `blocked` spans are drawn where no mark may fall (a breaker's
    cooldown); `missing` are the instants by which a mark was due that never came (a trial
    that never reached the upstream, a process that did not exit)."""

    label: str
    marks: tuple[float, ...]
    windows: tuple[Span, ...] = ()
    constrained: bool = True
    blocked: tuple[Span, ...] = ()
    missing: tuple[float, ...] = ()

    def verdict(self, t: float) -> Verdict:
        if not self.constrained:
            return "free"
        if any(b.holds(t) for b in self.blocked):
            return "outside"
        return "inside" if any(w.holds(t) for w in self.windows) else "outside"


@dataclass(frozen=True)
class TimedCheck:
    title: str
    lanes: tuple[Lane, ...]
    passed: bool
    detail: str = ""
    unit_note: str = ""   # e.g. the scale and tolerance the windows include

    def to_data(self) -> dict[str, Any]:
        return {"title": self.title, "passed": self.passed, "detail": self.detail, "unit_note": self.unit_note,
                "lanes": [{"label": lane.label, "marks": list(lane.marks), "constrained": lane.constrained,
                           "windows": _spans_data(lane.windows), "blocked": _spans_data(lane.blocked),
                           "missing": list(lane.missing)} for lane in self.lanes]}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> TimedCheck:
        lanes = tuple(Lane(str(lane["label"]), tuple(float(t) for t in lane["marks"]),
                           _spans(lane["windows"]), bool(lane["constrained"]), _spans(lane.get("blocked", ())),
                           tuple(float(t) for t in lane.get("missing", ())))
                      for lane in data["lanes"])
        return cls(str(data["title"]), lanes, bool(data["passed"]), str(data.get("detail", "")),
                   str(data.get("unit_note", "")))


def _spans_data(spans: tuple[Span, ...]) -> list[list[Any]]:
    return [[s.low, s.high, s.label] for s in spans]


def _spans(data: Any) -> tuple[Span, ...]:
    return tuple(Span(float(low), float(high), str(label)) for low, high, label in data)
