"""Writes docs/implementations.md: the published verdicts of implementations Faultline did not
write, one section each, from the run's verdict file and a hand-kept file of causes.

    .venv/bin/python tools/implementations.py            # or: make implementations
    .venv/bin/python tools/implementations.py --check    # exit 1 when the page is not up to date

Each implementation has a directory docs/implementations/<name>/ holding `verdict.json` (the
verdict file of a full-profile run, as `faultline run` wrote it) and `causes.yaml`:

    run: {date: 2026-12-02, command: "...", wall_time: "31 min", workers: 6, machine: "..."}
    causes:
      GW-AUTH-001: "the one-line real cause, checked by hand against the run's evidence"

Every clause the run failed or left not verified needs its cause, and a cause for a clause that
passed is refused: the page cannot drift from the run it publishes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from catalogue import catalogue

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "docs" / "implementations"
PAGE = ROOT / "docs" / "implementations.md"
NEEDS_CAUSE = ("failed", "not verified", "expected failure", "unexpected pass")
ORDER = ("failed", "unexpected pass", "expected failure", "not verified", "passed", "not applicable")


class PublishError(ValueError):
    """A verdict and its causes that do not fit together; the message names the file and the fix."""


@dataclass(frozen=True)
class Published:
    name: str
    verdict: Mapping[str, Any]
    run: Mapping[str, Any]
    causes: Mapping[str, str]


def load(directory: Path) -> Published:
    verdict_path, causes_path = directory / "verdict.json", directory / "causes.yaml"
    verdict = json.loads(verdict_path.read_text(encoding="utf-8"))
    kept = yaml.safe_load(causes_path.read_text(encoding="utf-8")) or {}
    causes = {str(k): " ".join(str(v).split()) for k, v in (kept.get("causes") or {}).items()}
    clauses = verdict["clauses"]
    missing = sorted(c for c, r in clauses.items() if r["result"] in NEEDS_CAUSE and c not in causes)
    stale = sorted(c for c in causes if clauses.get(c, {}).get("result") not in NEEDS_CAUSE)
    if missing:
        raise PublishError(f"{causes_path}: causes: no cause for {', '.join(missing)}; read each clause's reasons in "
                           f"{verdict_path} and the run's evidence, and write its real cause")
    if stale:
        raise PublishError(f"{causes_path}: causes: {', '.join(stale)} did not fail and are verified in "
                           f"{verdict_path}; remove their causes")
    return Published(directory.name, verdict, kept.get("run") or {}, causes)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def section(published: Published) -> str:
    verdict, run = published.verdict, published.run
    implementation = verdict["implementation"]
    summary = verdict["summary"]
    known = catalogue().clauses
    counts = {result: 0 for result in ORDER}
    for clause in verdict["clauses"].values():
        counts[clause["result"]] = counts.get(clause["result"], 0) + 1
    lines = [
        f"## {implementation['name']} {implementation['version']}",
        "",
        f"- **Verdict: {verdict['verdict']}**; MUST {summary['must_passed']} passed, SHOULD {summary['should_passed']} "
        f"passed ({', '.join(f'{n} {r}' for r, n in counts.items() if n)}).",
        f"- Run on {run.get('date', '?')}: {verdict['profile']} profile, {verdict['run']['scenarios_reported']} "
        f"scenarios at time scale {verdict['time_scale']:g}, {run.get('workers', '?')} workers, "
        f"{run.get('wall_time', '?')} wall time{', ' + run['machine'] if run.get('machine') else ''}; timing "
        f"tolerance {verdict['timing_tolerance_seconds'] * 1000:.0f} ms.",
        f"- Claimed features: {', '.join(verdict['claimed_features']) or 'none'}.",
        f"- Command: `{run.get('command', '?')}`",
        "",
        "| clause | says | level | result | cause (checked by hand) |",
        "|---|---|---|---|---|",
    ]
    rows = sorted(verdict["clauses"].items(), key=lambda item: (ORDER.index(item[1]["result"]), item[0]))
    for clause_id, clause in rows:
        cause = published.causes.get(clause_id, "")
        if not cause and clause["result"] == "not applicable":
            cause = clause["reasons"][0] if clause["reasons"] else ""
        text = known[clause_id].text if clause_id in known else "(no longer in the catalogue)"
        lines.append(f"| {clause_id} | {_cell(text)} | {clause['level']} | {clause['result']} | {_cell(cause)} |")
    return "\n".join(lines) + "\n"


def page(directories: list[Path]) -> str:
    head = ("# Implementations\n\n"
            "Verdicts of gateways and hives Faultline did not write, each from one full-profile run. Each failed or "
            "not verified clause names the implementation's real behaviour, checked by hand against the run's "
            "evidence (the requests the fakes received, the answers, the log). Generated by `make implementations` "
            "(`tools/implementations.py`) from `docs/implementations/<name>/verdict.json` (the run's verdict file) "
            "and `causes.yaml` (the hand-kept causes); do not edit this page. How to run one yourself: "
            "[verify.md](verify.md).\n\n")
    return head + "\n".join(section(load(d)) for d in directories)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write docs/implementations.md from docs/implementations/*/")
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is not what the sources give")
    args = parser.parse_args(argv)
    directories = sorted(p for p in SOURCES.iterdir() if (p / "verdict.json").is_file())
    try:
        text = page(directories)
    except PublishError as exc:
        print(f"implementations: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if PAGE.read_text(encoding="utf-8") != text:
            print(f"implementations: {PAGE} is not up to date; run `make implementations`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"implementations: wrote {PAGE} ({len(directories)} implementation(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
