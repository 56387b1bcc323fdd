"""The conformance report: one self-contained HTML file (inline CSS and SVG, no scripts, no
network) with, per target, the summary, the clause matrix, each failure with its evidence, and
a timeline of every retry, breaker and timeout scenario and of every timed check."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from catalogue import Catalogue, Clause
from harness.judgement import NOT_RUN
from harness.report.model import TimedCheck, anchor, clause_anchor
from harness.report.timeline import render_svg
from harness.verdict import RunStatus, ScenarioRecord, VerdictCollector

TIMED_AREAS = frozenset({"retry", "breaker", "timeout"})
HISTORY_EXCERPT_LINES = 60
SHOWN_FAILED = ("failed", "xpassed")   # outcomes whose scenario gets a failure section


@dataclass(frozen=True)
class Timeline:
    title: str
    passed: bool
    detail: str
    note: str
    svg: Markup


@dataclass(frozen=True)
class ScenarioView:
    record: ScenarioRecord
    anchor: str
    name: str
    timelines: tuple[Timeline, ...]

    @property
    def failed(self) -> bool:
        return self.record.outcome in SHOWN_FAILED


@dataclass(frozen=True)
class CaseLink:
    """One case of a clause as its matrix row lists it; not-run and not-applicable ones greyed."""

    name: str
    outcome: str
    applies: bool
    note: str                 # why it does not apply, or the skip reason
    anchor: str | None        # of its section in the report, when it has one
    checks: tuple[dict[str, Any], ...] = ()   # the case's checks that speak for this clause

    @property
    def greyed(self) -> bool:
        return not self.applies or self.outcome == NOT_RUN


@dataclass(frozen=True)
class ClauseRow:
    clause: Clause
    result: str
    reasons: tuple[str, ...]
    anchor: str
    cases: tuple[CaseLink, ...]
    evidence: str | None                                  # anchor of the section that explains it


@dataclass(frozen=True)
class FailureGroup:
    """Failed scenarios that share one cause: the first shown whole, the others listed."""

    cause: str
    scenarios: tuple[ScenarioView, ...]


@dataclass(frozen=True)
class TargetView:
    name: str
    anchor: str
    verdict: dict[str, Any]
    clauses: tuple[ClauseRow, ...]
    failures: tuple[ScenarioView, ...]
    timed: tuple[ScenarioView, ...]

    @property
    def failure_groups(self) -> tuple[FailureGroup, ...]:
        groups: dict[str, list[ScenarioView]] = {}
        for view in self.failures:
            groups.setdefault(cause_of(view.record.reason), []).append(view)
        return tuple(FailureGroup(cause, tuple(views))
                     for cause, views in sorted(groups.items(), key=lambda g: -len(g[1])))

    def clause_anchor(self, clause_id: str) -> str:
        return clause_anchor(self.name, clause_id)


VARYING = [(re.compile(r"https?://[\w.\-]+(:\d+)?"), "<url>"),
           (re.compile(r"\b[0-9a-f]{8,}\b|\b[0-9a-f-]{32,36}\b"), "<id>"),
           (re.compile(r"\d+(\.\d+)?"), "#")]


def cause_of(reason: str) -> str:
    """What a failure says once what varies between scenarios (addresses, ids, numbers) is
    blanked: failures with one cause read alike."""
    text = reason.strip().splitlines()[0] if reason.strip() else "(no message)"
    for pattern, blank in VARYING:
        text = pattern.sub(blank, text)
    return text[:200]


def scenario_anchor(nodeid: str) -> str:
    return "scn-" + hashlib.sha1(nodeid.encode()).hexdigest()[:12]


def scenario_name(nodeid: str) -> str:
    """`steps/test_gateway.py::test_retries_stop[reference-gateway-503]` -> `retries stop [503]`."""
    function, _, params = nodeid.rpartition("::")[2].partition("[")
    name = function.removeprefix("test_").replace("_", " ")
    return f"{name} [{params.rstrip(']')}]" if params else name


def _timelines(record: ScenarioRecord) -> tuple[Timeline, ...]:
    checks = [TimedCheck.from_data(c) for c in record.checks]
    if not checks and record.arrivals:
        checks = [TimedCheck.from_data(record.arrivals)]
    return tuple(Timeline(c.title, c.passed, c.detail, c.unit_note, Markup(render_svg(c))) for c in checks)


def _is_timed(record: ScenarioRecord, clauses: dict[str, Clause]) -> bool:
    """A scenario whose steps recorded a timed check, or one of a timed clause (which at least
    gets the requests the fakes received)."""
    known = [clauses[c] for c in record.clauses if c in clauses]
    return bool(record.checks) or any(c.timed or c.area in TIMED_AREAS for c in known)


def history_excerpt(text: str, lines: int = HISTORY_EXCERPT_LINES) -> str:
    rows = text.splitlines()
    return "\n".join(rows if len(rows) <= lines
                     else [f"({len(rows) - lines} earlier line(s) left out)"] + rows[-lines:])


def target_view(verdict: dict[str, Any], records: list[ScenarioRecord], catalogue: Catalogue) -> TargetView:
    """One target's part of the report: its verdict, and the records of its scenarios that ran
    (their evidence and timed checks; none for a verdict merged without them)."""
    name = verdict["implementation"]["name"]
    clauses = dict(catalogue.clauses)
    views = {r.nodeid: ScenarioView(r, scenario_anchor(r.nodeid), scenario_name(r.nodeid),
                                    _timelines(r) if _is_timed(r, clauses) else ()) for r in records}
    shown = {r.case: views[r.nodeid].anchor for r in records if views[r.nodeid].failed or views[r.nodeid].timelines}
    rows = []
    for clause_id, entry in verdict["clauses"].items():
        cases = tuple(_case_link(verdict["scenarios"][key], shown.get(key), clause_id) for key in entry["scenarios"])
        failing = [c.anchor for c in cases if c.anchor and c.outcome in SHOWN_FAILED]
        explained = failing or [c.anchor for c in cases if c.anchor]
        rows.append(ClauseRow(clauses[clause_id], entry["result"], tuple(entry["reasons"]),
                              clause_anchor(name, clause_id), cases, explained[0] if explained else None))
    return TargetView(name, anchor("target", name), verdict, tuple(rows),
                      tuple(v for v in views.values() if v.failed),
                      tuple(v for v in views.values() if v.timelines and not v.failed))


def _case_link(case: dict[str, Any], section: str | None, clause_id: str) -> CaseLink:
    note = case["why_not_applicable"] if not case["applies"] else case["reason"] if case["outcome"] == "skipped" else ""
    checks = tuple(c for c in case.get("checks", ()) if clause_id in c["clauses"])
    return CaseLink(case["name"], case["outcome"], case["applies"], note or "", section, checks)


def render_report(collector: VerdictCollector, generated_at: str) -> str:
    targets = [target_view(collector.verdict(spec), collector.records(name), collector.catalogue)
               for name, spec in collector.targets.items()]
    return render_targets(targets, collector.status, len(collector.scenarios), generated_at)


def render_targets(targets: list[TargetView], status: RunStatus, reported: int, generated_at: str) -> str:
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    environment.filters["excerpt"] = history_excerpt
    return environment.from_string(TEMPLATE).render(
        targets=targets, status=status, reported=reported, generated_at=generated_at,
        suite_version=next((t.verdict["suite_version"] for t in targets), ""))


def write_report(collector: VerdictCollector, path: Path, generated_at: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(collector, generated_at), encoding="utf-8")
    return path


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Faultline conformance report</title>
<style>
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --pass: #1a7f37; --fail: #cf222e;
        --warn: #9a6700; --skip: #59636e; --bg-soft: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0 auto;
       padding: 24px; max-width: 1180px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 36px 0 8px; border-bottom: 1px solid var(--line);
       padding-bottom: 6px; } h3 { font-size: 16px; margin: 24px 0 8px; } h4 { font-size: 14px; margin: 14px 0 6px; }
.muted { color: var(--muted); }
.banner { padding: 10px 14px; border-radius: 6px; margin: 14px 0; background: #fff8c5; border: 1px solid #d4a72c; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg-soft); font-weight: 600; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 8px 0; }
dl.summary dt { color: var(--muted); } dl.summary dd { margin: 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
         color: #fff; background: var(--skip); white-space: nowrap; }
.badge.passed, .badge.conformant { background: var(--pass); }
.badge.failed, .badge.xpassed, .badge.unexpected-pass, .badge.not-conformant { background: var(--fail); }
.badge.xfailed, .badge.expected-failure, .badge.not-verified, .badge.incomplete { background: var(--warn); }
.badge.skipped, .badge.not-run, .badge.not-applicable { background: #8c959f; }
.badge.big { font-size: 16px; padding: 3px 14px; }
.level-MUST { font-weight: 600; }
tr.failed td, tr.unexpected-pass td { background: #ffebe9; }
tr.not-verified td, tr.expected-failure td { background: #fff8c5; }
tr.not-applicable td { color: var(--muted); }
ul.scenarios, ul.reasons { margin: 0; padding-left: 16px; } ul.scenarios li, ul.reasons li { margin: 0; }
ul.scenarios li.greyed { color: var(--muted); }
.headline { padding: 10px 14px; border-radius: 6px; margin: 10px 0; border: 1px solid var(--line); }
.headline.conformant { border-color: var(--pass); } .headline.not-conformant { border-color: var(--fail); }
.headline.incomplete { border-color: var(--warn); background: #fff8c5; }
.headline p { margin: 4px 0; }
.scenario { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px 12px; margin: 12px 0; }
.scenario.failed { border-color: var(--fail); }
pre { background: var(--bg-soft); border: 1px solid var(--line); border-radius: 6px; padding: 8px; overflow: auto;
      max-height: 420px; font-size: 12px; white-space: pre-wrap; word-break: break-word; }
details > summary { cursor: pointer; margin: 6px 0; }
figure { margin: 8px 0 14px; } figcaption { font-size: 13px; margin-bottom: 4px; }
svg.timeline { max-width: 100%; height: auto; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
.legend span { margin-right: 14px; } .dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
        vertical-align: middle; margin-right: 4px; }
nav a { margin-right: 12px; }
</style>
</head>
<body>
{% macro matrix(rows) %}
<table class="matrix">
<thead><tr><th>Clause</th><th>Level</th><th>Result</th><th>Scenarios</th><th>Evidence</th></tr></thead>
<tbody>
{% for row in rows %}
<tr id="{{ row.anchor }}" class="{{ row.result | replace(' ', '-') }}" data-clause="{{ row.clause.id }}" data-result="{{ row.result }}">
<td><strong>{{ row.clause.id }}</strong><br><span class="muted">{{ row.clause.text }}</span></td>
<td class="level-{{ row.clause.level }}">{{ row.clause.level }}</td>
<td><span class="badge {{ row.result | replace(' ', '-') }}">{{ row.result }}</span>
{% if row.reasons and row.result != 'passed' %}<details class="why" {% if row.reasons | length <= 2 %}open{% endif %}><summary>why ({{ row.reasons | length }})</summary><ul class="reasons">{% for r in row.reasons %}<li>{{ r }}</li>{% endfor %}</ul></details>{% endif %}</td>
<td>{% if row.cases %}<ul class="scenarios">{% for c in row.cases %}<li class="{{ 'greyed' if c.greyed else '' }}" data-outcome="{{ c.outcome }}" data-applies="{{ c.applies | lower }}">{% if c.anchor %}<a href="#{{ c.anchor }}">{{ c.name }}</a>{% else %}{{ c.name }}{% endif %} <span class="muted">({% if not c.applies %}not applicable: {{ c.note }}{% else %}{{ c.outcome }}{% if c.note %}: {{ c.note }}{% endif %}{% endif %})</span>{% if c.checks %}<ul class="checks">{% for k in c.checks %}<li class="check" data-outcome="{{ k.outcome }}">{{ k.step }} <span class="badge {{ k.outcome | replace(' ', '-') }}">{{ k.outcome }}</span>{% if k.message %}: <span class="muted">{{ k.message }}</span>{% endif %}</li>{% endfor %}</ul>{% endif %}</li>{% endfor %}</ul>{% else %}<span class="muted">no scenario</span>{% endif %}</td>
<td>{% if row.evidence %}<a href="#{{ row.evidence }}">evidence</a>{% else %}<span class="muted">&mdash;</span>{% endif %}</td>
</tr>
{% endfor %}
</tbody>
</table>
{% endmacro %}
{% macro scenario(s) %}
<article class="scenario {{ s.record.outcome }}" id="{{ s.anchor }}" data-nodeid="{{ s.record.nodeid }}">
<h4>{{ s.name }} <span class="badge {{ s.record.outcome }}">{{ s.record.outcome }}</span></h4>
<p class="muted">{{ s.record.clauses | join(', ') }} &middot; {{ '%.2f' | format(s.record.duration) }} s &middot; <code>{{ s.record.nodeid }}</code></p>
{% for tl in s.timelines %}
<figure class="timeline" data-passed="{{ tl.passed | lower }}"><figcaption><strong>{{ tl.title }}</strong>:
{{ tl.detail }}{% if tl.note %} <span class="muted">({{ tl.note }})</span>{% endif %}</figcaption>{{ tl.svg }}</figure>
{% endfor %}
{% if s.record.failure %}<h4>What failed</h4><pre class="reason">{{ s.record.reason }}</pre>
<details class="longrepr"><summary>full report</summary><pre>{{ s.record.failure }}</pre></details>{% endif %}
{% for name, text in s.record.evidence.items() %}
<details class="evidence" {% if loop.first %}open{% endif %}><summary>{{ name }}</summary>
<pre>{{ text | excerpt if name.startswith('scenario history') else text }}</pre></details>
{% endfor %}
</article>
{% endmacro %}
<h1>Faultline conformance report</h1>
<p class="muted">Suite {{ suite_version }} &middot; generated {{ generated_at }} &middot;
{{ reported }} scenario(s) reported{% if status.selected is not none %} of {{ status.selected }} selected{% endif %}</p>
{% if status.cut_short %}
<div class="banner" id="cut-short"><strong>This run was cut short</strong> ({{ status.cut_short }}).
The report covers only the {{ reported }} scenario(s) that ran{% if status.selected is not none %};
{{ status.selected - reported if status.selected > reported else 0 }} selected scenario(s) did not run{% endif %}.
Clauses whose scenarios did not run are <em>not verified</em>, never passed.</div>
{% endif %}
{% if not targets %}<p>No target was selected.</p>{% endif %}
<nav>{% for t in targets %}<a href="#{{ t.anchor }}">{{ t.name }}</a>{% endfor %}</nav>
<p class="legend muted"><span><i class="dot" style="background:#d1f0d9;border:1px solid #4ac26b;border-radius:2px"></i>window the clause allows</span>
<span><i class="dot" style="background:#1a7f37"></i>measured, inside</span>
<span><i class="dot" style="background:#cf222e"></i>measured, outside</span>
<span><i class="dot" style="background:#57606a"></i>measured, not constrained</span>
<span><i class="dot" style="background:#ffebe9;border:1px dashed #ff8182;border-radius:2px"></i>nothing allowed (a breaker's cooldown)</span>
<span><i class="dot" style="background:#fff;border:2px dashed #cf222e"></i>due, never observed</span></p>
{% for t in targets %}
{% set v = t.verdict %}
<section class="target" id="{{ t.anchor }}">
<h2>{{ t.name }} <span class="badge big {{ v.verdict | replace(' ', '-') }}" data-verdict="{{ v.verdict }}">{{ v.verdict }}</span></h2>
<div class="headline {{ v.verdict | replace(' ', '-') }}">
<p><strong>MUST {{ v.summary.must_passed }} passed</strong> <span class="muted">(passed / applicable: a clause that did not run counts against it)</span></p>
{% if v.summary.must_failed %}<p class="must-failed">Failed MUST clauses:</p><ul class="reasons">{% for c, reasons in v.summary.must_failed.items() %}<li><a href="#{{ t.clause_anchor(c) }}">{{ c }}</a>: {{ reasons | join('; ') }}</li>{% endfor %}</ul>{% endif %}
{% if v.summary.unexpected_passes %}<p class="unexpected-passes">Declared expected failures that passed (the target file is wrong): {% for c in v.summary.unexpected_passes %}<a href="#{{ t.clause_anchor(c) }}">{{ c }}</a> {% endfor %}</p>{% endif %}
{% if v.summary.must_not_verified %}<details class="must-not-verified" {% if v.summary.must_not_verified | length <= 12 %}open{% endif %}><summary>{{ v.summary.must_not_verified | length }} MUST clause(s) not verified</summary><ul class="reasons must-not-verified">{% for c, reasons in v.summary.must_not_verified.items() %}<li data-clause="{{ c }}"><a href="#{{ t.clause_anchor(c) }}">{{ c }}</a>: {{ reasons | join('; ') }}</li>{% endfor %}</ul></details>{% endif %}
<p class="declared-failures">Declared expected failures: {% if v.expected_failures %}{% for c in v.expected_failures %}<a href="#{{ t.clause_anchor(c) }}">{{ c }}</a> <span class="muted">({{ v.clauses[c].result if c in v.clauses else 'not a clause of this profile' }})</span> {% endfor %}{% else %}none{% endif %}</p>
</div>
<dl class="summary">
<dt>Implementation</dt><dd>{{ v.implementation.name }} {{ v.implementation.version }} ({{ v.kind }}) &middot; <span class="muted">{{ v.implementation.target_file }}</span></dd>
<dt>Profile</dt><dd>{{ v.profile }}</dd>
<dt>MUST clauses passed</dt><dd class="must-rate">{{ v.summary.must_passed }}</dd>
<dt>SHOULD clauses passed</dt><dd class="should-rate">{{ v.summary.should_passed }}</dd>
<dt>Suite version</dt><dd>{{ v.suite_version }}</dd>
<dt>Time scale</dt><dd>{{ v.time_scale }} (spec seconds &times; {{ v.time_scale }} = real seconds)
{%- if v.coarse_time_scale is defined and v.coarse_time_scale != v.time_scale %}; {{ v.coarse_time_scale }} for
@coarse-timing scenarios{% endif %}</dd>
<dt>Timing tolerance</dt><dd>{% if v.timing_tolerance_seconds is not none %}{{ '%.1f' | format(v.timing_tolerance_seconds * 1000) }} ms, measured on this machine{% else %}<span class="muted">not used by any scenario that ran</span>{% endif %}</dd>
<dt>Claimed features</dt><dd>{{ v.claimed_features | join(', ') or 'none' }}</dd>
<dt>Expected failures</dt><dd>{{ v.expected_failures | join(', ') or 'none' }}</dd>
<dt>Scenarios reported</dt><dd>{{ v.run.scenarios_reported }} of {{ v.scenarios | length }} in the feature files{% if not v.run.slow %} <span class="muted">(run without --slow)</span>{% endif %}</dd>
</dl>

<h3>Clause matrix</h3>
{% set applicable = t.clauses | rejectattr('result', 'equalto', 'not applicable') | list %}
{% set not_applicable = t.clauses | selectattr('result', 'equalto', 'not applicable') | list %}
{{ matrix(applicable) }}
{% if not_applicable %}
<details class="not-applicable"><summary>{{ not_applicable | length }} clause(s) not applicable: part of an optional feature the target does not claim</summary>
{{ matrix(not_applicable) }}
</details>
{% endif %}

<h3>Failures ({{ t.failures | length }})</h3>
{% if not t.failures %}<p class="muted">No scenario failed.</p>{% endif %}
{% for g in t.failure_groups %}
{% if g.scenarios | length > 1 %}<section class="failure-group"><p><strong>{{ g.scenarios | length }} scenarios failed the same way</strong>:
<code>{{ g.cause }}</code>. The first is shown whole; the others:
{% for s in g.scenarios[1:] %}<a href="#{{ s.anchor }}">{{ s.name }}</a>{% if not loop.last %}, {% endif %}{% endfor %}.</p>
{{ scenario(g.scenarios[0]) }}
<details class="same-cause"><summary>the other {{ g.scenarios | length - 1 }}</summary>
{% for s in g.scenarios[1:] %}{{ scenario(s) }}{% endfor %}</details></section>
{% else %}{{ scenario(g.scenarios[0]) }}{% endif %}
{% endfor %}

<h3>Timelines of the other retry, breaker, timeout and cleanup scenarios ({{ t.timed | length }})</h3>
{% if not t.timed %}<p class="muted">None ran.</p>{% endif %}
{% for s in t.timed %}{{ scenario(s) }}{% endfor %}
</section>
{% endfor %}

</body>
</html>
"""
