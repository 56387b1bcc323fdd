"""The defect-catch table: which scenarios caught each deliberately broken reference.

Each defect test writes one row (a JSON file) as it finishes, from whichever xdist worker ran it;
the controller gathers this session's rows into reports/defect-catch.md and .json.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

ROWS_DIR = "defect-catch"


@dataclass(frozen=True)
class CatchRow:
    profile: str
    defect: str
    description: str
    clauses: tuple[str, ...]
    caught_by: tuple[str, ...]      # scenarios that failed against the defect
    passed: tuple[str, ...]         # scenarios of those clauses that did not notice it

    @property
    def caught(self) -> bool:
        return bool(self.caught_by)


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
        raw = json.loads(path.read_text())
        rows.append(CatchRow(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}))
    return rows


def render_table(rows: list[CatchRow]) -> str:
    caught = sum(r.caught for r in rows)
    lines = [f"# Defect catch: {caught}/{len(rows)} defects caught", "",
             "| profile | defect | breaks | caught by | missed by |", "|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: (r.profile, r.defect)):
        lines.append(f"| {row.profile} | `{row.defect}`: {row.description} | {', '.join(row.clauses)} | "
                     f"{'<br>'.join(row.caught_by) or '**NOT CAUGHT**'} | {'<br>'.join(row.passed)} |")
    return "\n".join(lines) + "\n"


def write_table(reports: Path, since: float) -> Path | None:
    rows = gather(reports, since)
    if not rows:
        return None
    (reports / "defect-catch.json").write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    table = reports / "defect-catch.md"
    table.write_text(render_table(rows))
    return table
