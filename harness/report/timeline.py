"""A timed check drawn as an inline SVG: one lane per attempt or fake, the allowed windows as
green bands, spans where nothing may happen as dashed red bands, the measured instants as marks
coloured by whether they fell inside, and a dashed red ring where an instant was due but none came.

Presentation attributes rather than CSS, so the picture is the same inside the report and
saved on its own. Every mark carries `data-verdict` and a tooltip with its numbers.
"""

from __future__ import annotations

import math
from html import escape

from harness.report.model import Span, TimedCheck, Verdict

LABEL_WIDTH = 150
RIGHT_PAD = 20
LANE_HEIGHT = 24
TOP = 10
AXIS_HEIGHT = 34
COLOURS: dict[Verdict, str] = {"inside": "#1a7f37", "outside": "#cf222e", "free": "#57606a"}
WINDOW_FILL, WINDOW_STROKE = "#d1f0d9", "#4ac26b"
BLOCKED_FILL, BLOCKED_STROKE = "#ffebe9", "#ff8182"


def nice_step(span: float, target_ticks: int = 6) -> float:
    """A 1-2-5 tick step giving about `target_ticks` ticks over `span`."""
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    magnitude: float = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _fmt(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".") if abs(seconds) < 100 else f"{seconds:.0f}"


def render_svg(check: TimedCheck, width: int = 760) -> str:
    instants = [t for lane in check.lanes for t in (*lane.marks, *lane.missing)]
    bounds = [b for lane in check.lanes for w in (*lane.windows, *lane.blocked) for b in (w.low, w.high)]
    low = min([0.0, *instants, *bounds])
    high = max([*instants, *bounds, low + 1e-3])
    pad = (high - low) * 0.04
    low, high = (low - pad if low < 0 else low), high + pad
    plot = width - LABEL_WIDTH - RIGHT_PAD
    height = TOP + LANE_HEIGHT * max(1, len(check.lanes)) + AXIS_HEIGHT

    def x(t: float) -> float:
        return LABEL_WIDTH + (t - low) / (high - low) * plot

    def band(kind: str, span: Span, mid: float, paint: str, default_label: str) -> str:
        left, right = x(span.low), x(span.high)
        return (f'<rect class="{kind}" x="{left:.1f}" y="{mid - 7:.1f}" width="{max(right - left, 1.5):.1f}" '
                f'height="14" rx="3" {paint}><title>{escape(span.label or default_label)}: '
                f"{_fmt(span.low)}–{_fmt(span.high)} s</title></rect>")

    outside = sum(1 for lane in check.lanes for t in lane.marks if lane.verdict(t) == "outside")
    missing = sum(len(lane.missing) for lane in check.lanes)
    summary = f"{check.title}: {'passed' if check.passed else 'failed'}" + \
        (f", {outside} instant(s) outside their window" if outside else "") + \
        (f", {missing} expected instant(s) missing" if missing else "")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(summary)}" '
             f'font-family="system-ui, sans-serif" font-size="11">',
             f"<title>{escape(summary)}</title>"]
    for i, lane in enumerate(check.lanes):
        mid = TOP + LANE_HEIGHT * i + LANE_HEIGHT / 2
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{mid + 4:.1f}" text-anchor="end" fill="#24292f">'
                     f"{escape(lane.label)}</text>")
        parts.append(f'<line x1="{LABEL_WIDTH}" y1="{mid:.1f}" x2="{width - RIGHT_PAD}" y2="{mid:.1f}" '
                     f'stroke="#d0d7de" stroke-dasharray="2 3"/>')
        for window in lane.windows:
            parts.append(band("window", window, mid, f'fill="{WINDOW_FILL}" stroke="{WINDOW_STROKE}"', "allowed"))
        for span in lane.blocked:
            parts.append(band("blocked", span, mid, f'fill="{BLOCKED_FILL}" stroke="{BLOCKED_STROKE}" '
                                                    f'stroke-dasharray="4 2"', "nothing allowed"))
        for t in lane.missing:
            tip = escape(f"{lane.label}: due by {_fmt(t)} s, NEVER OBSERVED")
            parts.append(f'<g class="mark missing" data-verdict="missing" data-t="{t:.6f}"><title>{tip}</title>'
                         f'<circle cx="{x(t):.1f}" cy="{mid:.1f}" r="7" fill="#fff" stroke="{COLOURS["outside"]}" '
                         f'stroke-width="2" stroke-dasharray="3 2"/>'
                         f'<text x="{x(t):.1f}" y="{mid + 4:.1f}" text-anchor="middle" font-weight="700" '
                         f'fill="{COLOURS["outside"]}">?</text></g>')
        for t in lane.marks:
            verdict = lane.verdict(t)
            where = {"inside": "inside its window", "outside": "OUTSIDE every allowed window",
                     "free": "not constrained"}[verdict]
            tip = escape(f"{lane.label} at {_fmt(t)} s: {where}")
            cx, colour = x(t), COLOURS[verdict]
            if verdict == "outside":
                parts.append(f'<g class="mark outside" data-verdict="outside" data-t="{t:.6f}">'
                             f"<title>{tip}</title>"
                             f'<circle cx="{cx:.1f}" cy="{mid:.1f}" r="7" fill="{colour}"/>'
                             f'<path d="M{cx - 3.5:.1f} {mid - 3.5:.1f}l7 7m0 -7l-7 7" stroke="#fff" '
                             f'stroke-width="1.8"/></g>')
            else:
                parts.append(f'<g class="mark {verdict}" data-verdict="{verdict}" data-t="{t:.6f}">'
                             f"<title>{tip}</title>"
                             f'<circle cx="{cx:.1f}" cy="{mid:.1f}" r="5" fill="{colour}"/></g>')
    axis_y = TOP + LANE_HEIGHT * max(1, len(check.lanes)) + 4
    parts.append(f'<line x1="{LABEL_WIDTH}" y1="{axis_y}" x2="{width - RIGHT_PAD}" y2="{axis_y}" stroke="#57606a"/>')
    step = nice_step(high - low)
    for k in range(math.ceil(low / step), math.floor(high / step) + 1):
        tick = k * step
        tx = x(tick)
        parts.append(f'<line x1="{tx:.1f}" y1="{axis_y}" x2="{tx:.1f}" y2="{axis_y + 4}" stroke="#57606a"/>'
                     f'<text x="{tx:.1f}" y="{axis_y + 15}" text-anchor="middle" fill="#57606a">{_fmt(tick)}</text>')
    parts.append(f'<text x="{width - RIGHT_PAD}" y="{axis_y + 29}" text-anchor="end" fill="#57606a">'
                 f"seconds (real time)</text>")
    parts.append("</svg>")
    return "".join(parts)
