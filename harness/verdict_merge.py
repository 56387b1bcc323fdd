"""One target's verdict files, written by runs split across machines, merged into one verdict.

Each clause takes the worse of its results (failed, xpassed, passed, xfailed, skipped, not
covered: `harness.verdict.worst`), its scenarios are the union, and the summary and verdict are
recomputed as a single run computes them (`harness.verdict.judge`). The timing tolerance is the
largest any machine used, as a run's is the largest any of its workers used.

Files that do not describe the same target under the same suite are refused:

    MergeError                 one line: the file, and what is wrong with it
      - cannot be read, is not JSON, or is not a verdict file
      - differs from the first file in a key of SAME_TARGET, or in its clause catalogue
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.verdict import CLAUSE_RESULTS, judge, worst

# What makes two verdict files the same target's, as dotted paths into the file.
SAME_TARGET = ("implementation.name", "profile", "kind", "implementation.version", "suite_version",
               "claimed_features", "expected_failures", "time_scale", "coarse_time_scale")
REQUIRED = (*SAME_TARGET, "implementation.target_file", "timing_tolerance_seconds",
            "run.scenarios_reported", "run.cut_short", "clauses")


class MergeError(Exception):
    """A verdict file that cannot be merged; the message names the file and the reason."""


@dataclass(frozen=True)
class ClauseEntry:
    level: str
    result: str
    scenarios: frozenset[str]

    def combined(self, other: ClauseEntry) -> ClauseEntry:
        return ClauseEntry(self.level, worst((self.result, other.result)), self.scenarios | other.scenarios)

    def to_data(self) -> dict[str, Any]:
        return {"level": self.level, "result": self.result, "scenarios": sorted(self.scenarios)}


@dataclass(frozen=True)
class VerdictFile:
    path: Path
    data: Mapping[str, Any]                 # the file as written, for the keys merging keeps
    clauses: Mapping[str, ClauseEntry]      # in the file's (the catalogue's) order

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
    return VerdictFile(path, data, _clauses(path, data["clauses"]))


def _clauses(path: Path, raw: Any) -> dict[str, ClauseEntry]:
    if not isinstance(raw, dict):
        raise MergeError(f"{path}: not a verdict file ('clauses' is not an object)")
    clauses = {}
    for clause_id, entry in raw.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("level"), str)
                and entry.get("result") in CLAUSE_RESULTS and isinstance(entry.get("scenarios"), list)):
            raise MergeError(f"{path}: not a verdict file (clause {clause_id} needs a level, one of the "
                             f"results {', '.join(CLAUSE_RESULTS)}, and a list of scenarios)")
        scenarios = frozenset(map(str, entry["scenarios"]))
        clauses[clause_id] = ClauseEntry(entry["level"], entry["result"], scenarios)
    return clauses


def merge_verdicts(files: Sequence[VerdictFile]) -> dict[str, Any]:
    """The verdict of the runs that wrote `files`, all for the first file's target."""
    if not files:
        raise ValueError("nothing to merge")
    first = files[0]
    for other in files[1:]:
        _refuse_a_different_target(first, other)
    clauses = dict(first.clauses)
    for other in files[1:]:
        clauses = {cid: entry.combined(other.clauses[cid]) for cid, entry in clauses.items()}
    clause_data = {cid: entry.to_data() for cid, entry in clauses.items()}
    tolerances = [t for f in files if (t := f.at("timing_tolerance_seconds")) is not None]
    cut_short = list(dict.fromkeys(reason for f in files if (reason := f.at("run.cut_short"))))
    return {
        **first.data,   # implementation (target_file as the first machine saw it), profile, scales, ...
        "timing_tolerance_seconds": max(tolerances, default=None),
        "run": {"scenarios_reported": sum(f.at("run.scenarios_reported") for f in files),
                "cut_short": "; ".join(map(str, cut_short)) or None},
        **judge(clause_data),
        "clauses": clause_data,
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
    for cid, entry in first.clauses.items():
        if other.clauses[cid].level != entry.level:
            raise MergeError(f"{other.path}: clause {cid} is {other.clauses[cid].level}, but {first.path} "
                             f"has {entry.level}; the two runs used different clause catalogues")
