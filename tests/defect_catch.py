"""Whether a defect run caught its defect, clause by clause, and the table of every defect.

A defect is caught only when, for every clause it names, a scenario tagged with that clause
failed on the check meant to catch it (the defect's `assertion`) while the target was serving:
a failure in set-up or teardown, a target that would not start, a skip, or a failure on some
other check is a miss, and the table says which. The verdict file of the defect run is the
evidence: every case with its clauses, outcome and reason.

Each defect test writes one row (a JSON file) as it finishes, from whichever xdist worker ran it;
the controller gathers this session's rows into reports/defect-catch.md and .json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROWS_DIR = "defect-catch"
NOT_SERVING = ("setup failed:", "teardown failed:", "TargetStartError", "could not start", "before becoming ready")


@dataclass(frozen=True)
class ClauseCatch:
    clause: str
    caught_by: tuple[str, ...]      # scenarios of the clause that failed on the defect's assertion
    missed_by: tuple[str, ...]      # the clause's other scenarios, each with why it does not count


@dataclass(frozen=True)
class CatchRow:
    profile: str
    defect: str
    description: str
    clauses: tuple[str, ...]
    catches: tuple[ClauseCatch, ...]

    @property
    def caught(self) -> bool:
        return bool(self.catches) and all(c.caught_by for c in self.catches)

    @classmethod
    def from_data(cls, raw: Mapping[str, Any]) -> CatchRow:
        catches = tuple(ClauseCatch(c["clause"], tuple(c["caught_by"]), tuple(c["missed_by"]))
                        for c in raw["catches"])
        return cls(raw["profile"], raw["defect"], raw["description"], tuple(raw["clauses"]), catches)


def judge_catch(verdict: Mapping[str, Any] | None, clauses: Iterable[str], assertion: str) -> tuple[ClauseCatch, ...]:
    """For each named clause, which of its scenarios caught the defect and why the others did not."""
    scenarios: Mapping[str, Mapping[str, Any]] = (verdict or {}).get("scenarios", {})
    catches = []
    for clause in clauses:
        caught, missed = [], []
        for case in scenarios.values():
            if clause not in case["clauses"] or not case["applies"]:
                continue
            why_not = _why_not_a_catch(case, clause, assertion)
            (missed.append(f"{case['name']}: {why_not}") if why_not else caught.append(case["name"]))
        if not caught and not missed:
            missed.append("no scenario of it ran (did the target's run fail before any?)")
        catches.append(ClauseCatch(clause, tuple(caught), tuple(missed)))
    return tuple(catches)


def _why_not_a_catch(case: Mapping[str, Any], clause: str, assertion: str) -> str | None:
    """None for a catch: a failed check that speaks for `clause` matched the assertion, or, for a
    failure outside the checks (an answer that never came), the scenario's failure did."""
    outcome, reason = case["outcome"], str(case.get("reason") or "")
    if outcome != "failed":
        return f"{outcome}" + (f" ({reason[:160]})" if reason else "")
    if any(marker in reason for marker in NOT_SERVING):
        return f"failed, but not while the target was serving: {reason[:200]}"
    failed_checks = [c for c in case.get("checks") or [] if c["outcome"] == "failed"]
    if any(clause in c["clauses"] and re.search(assertion, str(c["message"]), re.S) for c in failed_checks):
        return None
    if not failed_checks and re.search(assertion, reason, re.S):
        return None
    about = [f"{c['step']}: {str(c['message'])[:120]}" for c in failed_checks]
    return f"failed on another check (not /{assertion}/): " + (" | ".join(about)[:300] if about else reason[:200])


def write_row(reports: Path, row: CatchRow) -> None:
    directory = reports / ROWS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{row.profile}-{row.defect}.json").write_text(json.dumps(asdict(row), indent=2))


def gather(reports: Path, since: float) -> list[CatchRow]:
    """This session's rows; rows left by earlier sessions are removed, not reported."""
    rows = []
    for path in sorted((reports / ROWS_DIR).glob("*.json")):
        if path.stat().st_mtime < since:
            path.unlink()
            continue
        rows.append(CatchRow.from_data(json.loads(path.read_text())))
    return rows


def render_table(rows: list[CatchRow]) -> str:
    caught = sum(r.caught for r in rows)
    lines = [f"# Defect catch: {caught}/{len(rows)} defects caught in isolation", "",
             "A defect is caught when, for every clause it names, a scenario tagged with that clause failed on "
             "the check meant to catch it while the target was serving.", "",
             "| profile | defect | clause | caught by | missed by |", "|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: (r.profile, r.defect)):
        for index, catch in enumerate(row.catches):
            name = f"`{row.defect}`: {row.description}" if index == 0 else ""
            lines.append(f"| {row.profile if index == 0 else ''} | {name} | {catch.clause} | "
                         f"{'<br>'.join(catch.caught_by) or '**NOT CAUGHT**'} | {'<br>'.join(catch.missed_by)} |")
    lines += ["", "## Clauses and the defects that prove them", "", "| clause | proven by | named but not caught by |",
              "|---|---|---|"]
    proving: dict[str, list[str]] = {}
    unproving: dict[str, list[str]] = {}
    for row in rows:
        for catch in row.catches:
            (proving if catch.caught_by else unproving).setdefault(catch.clause, []).append(row.defect)
    for clause in sorted(proving.keys() | unproving.keys()):
        lines.append(f"| {clause} | {', '.join(sorted(proving.get(clause, []))) or '**none**'} | "
                     f"{', '.join(sorted(unproving.get(clause, [])))} |")
    return "\n".join(lines) + "\n"


def write_table(reports: Path, since: float) -> Path | None:
    rows = gather(reports, since)
    if not rows:
        return None
    (reports / "defect-catch.json").write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    table = reports / "defect-catch.md"
    table.write_text(render_table(rows))
    return table
