"""One target's verdict files, written by runs split across machines, merged into one verdict.

Every file lists every case of the target (the scenario table), run or not. The merge takes,
per case, the worst outcome any file reports (failed, xpassed, xfailed, passed, skipped, not
run: `harness.judgement.OUTCOMES`), with that file's reason; a case applies if any file says
so. Clause results, summary and verdict are then judged again from those cases, with the
function a single run uses (`harness.verdict.verdict_body`). The timing tolerance is the
largest any machine used, as a run's is the largest any of its workers used.

Files that do not describe the same target under the same suite are refused:

    MergeError                 one line: the file, and what is wrong with it
      - cannot be read, is not JSON, or is not a verdict file
      - is of another verdict file format (an older Faultline's)
      - differs from the first file in a key of SAME_TARGET, or in its clause catalogue
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.judgement import CLAUSE_RESULTS, OUTCOMES, CaseResult, Claims, ClauseTerms, worse
from catalogue import catalogue
from harness.report.html import render_targets, target_view
from harness.verdict import FORMAT, RunStatus, ScenarioRecord, read_records, records_file, verdict_body

# What makes two verdict files the same target's, as dotted paths into the file.
SAME_TARGET = ("implementation.name", "profile", "kind", "implementation.version", "suite_version",
               "claimed_features", "expected_failures", "time_scale", "coarse_time_scale")
REQUIRED = (*SAME_TARGET, "implementation.target_file", "timing_tolerance_seconds",
            "run.scenarios_reported", "run.cut_short", "run.slow", "clauses", "scenarios")


class MergeError(Exception):
    """A verdict file that cannot be merged; the message names the file and the reason."""


@dataclass(frozen=True)
class VerdictFile:
    path: Path
    data: Mapping[str, Any]                 # the file as written, for the keys merging keeps
    clauses: Mapping[str, ClauseTerms]      # in the file's (the catalogue's) order
    cases: Mapping[str, CaseResult]

    def at(self, key: str) -> Any:
        value: Any = self.data
        for part in key.split("."):
            value = value[part]
        return value


def read_verdict(path: Path) -> VerdictFile:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MergeError(f"{path}: cannot read it ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MergeError(f"{path}: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise MergeError(f"{path}: not a verdict file (not a JSON object)")
    if data.get("format") != FORMAT:
        written = f"format {data['format']}" if "format" in data else "the format before format numbers (1)"
        raise MergeError(f"{path}: a verdict file of {written}; this Faultline merges format {FORMAT} only, so "
                         f"run that share again with it")
    for key in REQUIRED:
        parent: Any = data
        for part in key.split("."):
            if not isinstance(parent, dict) or part not in parent:
                raise MergeError(f"{path}: not a verdict file (no {key!r})")
            parent = parent[part]
    reported, tolerance = data["run"]["scenarios_reported"], data["timing_tolerance_seconds"]
    if not isinstance(reported, int) or isinstance(reported, bool):
        raise MergeError(f"{path}: not a verdict file ('run.scenarios_reported' is not a whole number)")
    if tolerance is not None and (not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool)):
        raise MergeError(f"{path}: not a verdict file ('timing_tolerance_seconds' is not a number or null)")
    return VerdictFile(path, data, _clauses(path, data["clauses"]), _cases(path, data["scenarios"]))


def _clauses(path: Path, raw: Any) -> dict[str, ClauseTerms]:
    if not isinstance(raw, dict):
        raise MergeError(f"{path}: not a verdict file ('clauses' is not an object)")
    clauses = {}
    for clause_id, entry in raw.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("level"), str)
                and isinstance(entry.get("feature"), (str, type(None)))
                and entry.get("result") in CLAUSE_RESULTS and isinstance(entry.get("scenarios"), list)):
            raise MergeError(f"{path}: not a verdict file (clause {clause_id} needs a level, a feature or null, one "
                             f"of the results {', '.join(CLAUSE_RESULTS)}, and a list of scenarios)")
        clauses[clause_id] = ClauseTerms(entry["level"], entry["feature"])
    return clauses


def _cases(path: Path, raw: Any) -> dict[str, CaseResult]:
    if not isinstance(raw, dict):
        raise MergeError(f"{path}: not a verdict file ('scenarios' is not an object)")
    cases = {}
    for key, entry in raw.items():
        if not (isinstance(entry, dict) and entry.get("outcome") in OUTCOMES
                and isinstance(entry.get("applies"), bool) and isinstance(entry.get("clauses"), list)
                and all(k in entry for k in ("name", "why_not_applicable", "reason"))):
            raise MergeError(f"{path}: not a verdict file (scenario {key} needs a name, its clauses, whether it "
                             f"applies and why not, one of the outcomes {', '.join(OUTCOMES)}, and a reason)")
        cases[key] = CaseResult.from_data(entry)
    return cases


def merged_case(a: CaseResult, b: CaseResult) -> CaseResult:
    """The worse outcome with its reason; applicable if either run found it so."""
    shown = a if worse(a.outcome, b.outcome) == a.outcome else b
    applies = a.applies or b.applies
    return dataclasses.replace(shown, applies=applies,
                               why_not_applicable=None if applies else a.why_not_applicable)


def merge_verdicts(files: Sequence[VerdictFile]) -> dict[str, Any]:
    """The verdict of the runs that wrote `files`, all for the first file's target."""
    if not files:
        raise ValueError("nothing to merge")
    first = files[0]
    for other in files[1:]:
        _refuse_a_different_target(first, other)
    cases: dict[str, CaseResult] = {}
    for file in files:
        for key, case in file.cases.items():
            cases[key] = merged_case(cases[key], case) if key in cases else case
    tolerances = [t for f in files if (t := f.at("timing_tolerance_seconds")) is not None]
    ranges = [r for f in files if isinstance(r := f.data.get("timing_tolerance_range"), list) and len(r) == 2]
    cut_short = list(dict.fromkeys(reason for f in files if (reason := f.at("run.cut_short"))))
    claims = Claims(frozenset(first.at("claimed_features")), frozenset(first.at("expected_failures")))
    return {
        **first.data,   # format, implementation (target_file as the first machine saw it), profile, scales, ...
        "timing_tolerance_seconds": max(tolerances, default=None),
        "timing_tolerance_range": [min(r[0] for r in ranges), max(r[1] for r in ranges)] if ranges else None,
        "run": {"scenarios_reported": sum(f.at("run.scenarios_reported") for f in files),
                "cut_short": "; ".join(map(str, cut_short)) or None,
                "slow": any(f.at("run.slow") for f in files)},
        **verdict_body(first.clauses, cases, claims, cut_short=bool(cut_short)),
    }


def _refuse_a_different_target(first: VerdictFile, other: VerdictFile) -> None:
    for key in SAME_TARGET:
        if other.at(key) != first.at(key):
            raise MergeError(f"{other.path}: {key} is {json.dumps(other.at(key))}, but {first.path} has "
                             f"{json.dumps(first.at(key))}; only verdicts of one target and suite merge")
    for cid in first.clauses.keys() ^ other.clauses.keys():
        holder, lacking = (first, other) if cid in first.clauses else (other, first)
        raise MergeError(f"{other.path}: clause {cid} is in {holder.path} but not in {lacking.path}; "
                         f"the two runs used different clause catalogues")
    for cid, terms in first.clauses.items():
        theirs = other.clauses[cid]
        if theirs != terms:
            what, mine, its = ("level", terms.level, theirs.level) if theirs.level != terms.level else \
                ("feature", terms.feature, theirs.feature)
            raise MergeError(f"{other.path}: clause {cid} has {what} {its}, but {first.path} has {mine}; "
                             f"the two runs used different clause catalogues")


def merged_records(verdict_paths: Sequence[Path], target: str) -> list[ScenarioRecord]:
    """The scenario records each run wrote beside its verdict, one per case: where several runs
    ran a case, the worse outcome's record (its evidence explains the merged result)."""
    chosen: dict[str, ScenarioRecord] = {}
    for path in verdict_paths:
        for record in read_records(path.parent / records_file(target)):
            known = chosen.get(record.case)
            if known is None or worse(known.outcome, record.outcome) != known.outcome:
                chosen[record.case] = record
    return sorted(chosen.values(), key=lambda r: r.nodeid)


def write_merged_report(merged: Mapping[str, Any], verdict_paths: Sequence[Path], out: Path) -> Path:
    """The conformance report of the merged verdict, with the evidence the runs left beside theirs."""
    records = merged_records(verdict_paths, merged["implementation"]["name"])
    view = target_view(dict(merged), records, catalogue())
    status = RunStatus(cut_short=merged["run"]["cut_short"], slow=bool(merged["run"]["slow"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_targets([view], status, int(merged["run"]["scenarios_reported"]),
                                  time.strftime("%Y-%m-%d %H:%M:%S %Z")), encoding="utf-8")
    return out
