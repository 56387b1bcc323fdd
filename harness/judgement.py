"""From scenario outcomes to clause results to a target's verdict: one pure function of the
verdict file's own data, so a run, `faultline merge` and the report judge alike.

    case outcome   passed, failed, skipped, xfailed, xpassed, or not run (no report)
    clause result  passed, failed, not verified, expected failure, unexpected pass, not applicable
    verdict        conformant, not conformant, incomplete

A clause passes only when every applicable case that checks it ran and passed: a skipped or
absent case leaves it not verified, never passed. A case applies unless it needs an optional
feature the target does not claim, or is @slow and the run did not ask for --slow.

Within a case that ran its checks (harness.checks), a clause's part comes from the checks that
speak for it: failed if one failed, not verified if one could not decide (or none speaks for
it), passed when each passed, whatever the other clauses' checks found. A case that failed
outside its checks (a Given or When) fails every clause it is tagged with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.checks import FAILED as CHECK_FAILED
from harness.checks import NOT_VERIFIED as CHECK_NOT_VERIFIED
from harness.checks import CheckResult

# Worst first: a case reported by several phases, or by several merged runs, takes the worst.
OUTCOMES = ("failed", "xpassed", "xfailed", "passed", "skipped", "not run")
NOT_RUN = "not run"
NOT_SELECTED = "deselected or not selected"   # why an applicable case did not run

PASSED, FAILED, NOT_VERIFIED = "passed", "failed", "not verified"
EXPECTED_FAILURE, UNEXPECTED_PASS, NOT_APPLICABLE = "expected failure", "unexpected pass", "not applicable"
CLAUSE_RESULTS = (PASSED, FAILED, NOT_VERIFIED, EXPECTED_FAILURE, UNEXPECTED_PASS, NOT_APPLICABLE)

CONFORMANT, NOT_CONFORMANT, INCOMPLETE = "conformant", "not conformant", "incomplete"
VERDICTS = (CONFORMANT, NOT_CONFORMANT, INCOMPLETE)

SLOW_REASON = "@slow scenario (real-time spec values): run with --slow"


def worse(a: str, b: str) -> str:
    return min(a, b, key=OUTCOMES.index)


def why_not_applicable(target: str, claimed: Iterable[str], needs: Iterable[str], slow: bool,
                       run_slow: bool) -> str | None:
    """Why a case does not apply to a target in this run (the skip reason the plugin gives it),
    or None when it applies."""
    missing = sorted(set(needs) - set(claimed))
    if missing:
        return f"target {target} does not claim optional feature(s) {', '.join(missing)}"
    if slow and not run_slow:
        return SLOW_REASON
    return None


@dataclass(frozen=True)
class CaseResult:
    """One case of one target: whether it applies, and what the run(s) made of it."""

    name: str
    clauses: tuple[str, ...]
    outcome: str = NOT_RUN
    reason: str = ""                      # skip reason, or the failure's gist
    applies: bool = True
    why_not_applicable: str | None = None
    needs: frozenset[str] = frozenset()   # optional features
    slow: bool = False
    checks: tuple[CheckResult, ...] = ()  # its Then checks, each with the clauses it speaks for

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name, "clauses": list(self.clauses), "applies": self.applies,
                "why_not_applicable": self.why_not_applicable, "outcome": self.outcome, "reason": self.reason,
                "needs": sorted(self.needs), "slow": self.slow, "checks": [c.to_data() for c in self.checks]}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> CaseResult:
        why = data["why_not_applicable"]
        return cls(str(data["name"]), tuple(map(str, data["clauses"])), str(data["outcome"]), str(data["reason"]),
                   bool(data["applies"]), None if why is None else str(why),
                   frozenset(map(str, data.get("needs", ()))), bool(data.get("slow", False)),
                   tuple(CheckResult.from_data(c) for c in data.get("checks", ())))


@dataclass(frozen=True)
class ClauseTerms:
    """What the verdict needs to know of a catalogue clause."""

    level: str
    feature: str | None = None


@dataclass(frozen=True)
class Claims:
    """What the target file says of the target."""

    features: frozenset[str] = frozenset()
    expected_failures: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ClauseResult:
    result: str
    reasons: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()      # keys of every case that checks it, applicable or not


def judge_clause(clause_id: str, terms: ClauseTerms, cases: Mapping[str, CaseResult], claims: Claims, *,
                 cut_short: bool) -> ClauseResult:
    mine = {key: case for key, case in cases.items() if clause_id in case.clauses}
    keys = tuple(sorted(mine))
    if terms.feature is not None and terms.feature not in claims.features:
        return ClauseResult(NOT_APPLICABLE, (f"part of optional feature {terms.feature}, which the target "
                                             f"does not claim",), keys)
    applicable = [case for case in mine.values() if case.applies]
    failed: list[str] = []
    unverified: list[str] = []
    for case in applicable:
        problem = _case_problem(clause_id, case, claims, cut_short)
        if problem is not None:
            (failed if problem[0] == FAILED else unverified).append(problem[1])
    if not applicable:
        unverified = [_why_none_applies(list(mine.values()), claims)]
    natural = FAILED if failed else NOT_VERIFIED if unverified else PASSED
    reasons = tuple(failed or unverified)
    if clause_id not in claims.expected_failures:
        return ClauseResult(natural, reasons, keys)
    if natural == FAILED:
        return ClauseResult(EXPECTED_FAILURE, reasons, keys)
    if natural == PASSED:
        return ClauseResult(UNEXPECTED_PASS, ("declared in expected_failures, but every scenario of it passed",),
                            keys)
    return ClauseResult(NOT_VERIFIED, ("declared in expected_failures", *reasons), keys)


def _case_problem(clause_id: str, case: CaseResult, claims: Claims, cut_short: bool) -> tuple[str, str] | None:
    """What an applicable case says against the clause: (failed or not verified, why), or None."""
    if case.checks and case.outcome != NOT_RUN:
        return _checks_problem(clause_id, case)
    gist = f": {case.reason}" if case.reason else ""
    if case.outcome == "failed":
        return FAILED, f"{case.name}: failed{gist}"
    if case.outcome == "xfailed":
        declared = sorted(set(case.clauses) & claims.expected_failures)
        if clause_id in claims.expected_failures or not declared:
            return FAILED, f"{case.name}: failed{gist}"
        return NOT_VERIFIED, (f"its scenario {case.name} failed, and that scenario also checks the declared "
                              f"expected failure(s) {', '.join(declared)}, so the failure cannot be attributed")
    if case.outcome == "skipped":
        return NOT_VERIFIED, f"{case.name}: skipped{gist}"
    if case.outcome == NOT_RUN:
        why = "the run was cut short" if cut_short else NOT_SELECTED
        return NOT_VERIFIED, f"{case.name}: not run: {why}"
    return None   # passed, xpassed


def _checks_problem(clause_id: str, case: CaseResult) -> tuple[str, str] | None:
    """The clause's part of a case that ran its checks: from the checks that speak for it."""
    if case.outcome in ("failed", "xfailed") and not any(c.outcome == CHECK_FAILED for c in case.checks):
        gist = f": {case.reason}" if case.reason else ""
        return FAILED, f"{case.name}: failed outside its checks{gist}"
    mine = [c for c in case.checks if clause_id in c.clauses]
    failed = [c for c in mine if c.outcome == CHECK_FAILED]
    if failed:
        return FAILED, "; ".join(f"{case.name}: {c.step}: {c.message}" for c in failed)
    undecided = [c for c in mine if c.outcome == CHECK_NOT_VERIFIED]
    if undecided:
        return NOT_VERIFIED, "; ".join(f"{case.name}: {c.step}: {c.message}" for c in undecided)
    if not mine:
        return NOT_VERIFIED, f"{case.name}: none of its checks speaks for {clause_id}"
    return None


def _why_none_applies(cases: list[CaseResult], claims: Claims) -> str:
    if not cases:
        return "no scenario"
    gated = [sorted(case.needs - claims.features) for case in cases]
    if all(gated):
        missing = sorted({f for features in gated for f in features})
        return f"every scenario of it needs optional feature(s) {', '.join(missing)}, which the target does not claim"
    return "no scenario of it applies to this run: " + "; ".join(
        f"{case.name} ({case.why_not_applicable or 'does not apply'})" for case in cases)


def judge_clauses(terms: Mapping[str, ClauseTerms], cases: Mapping[str, CaseResult], claims: Claims, *,
                  cut_short: bool) -> dict[str, ClauseResult]:
    return {cid: judge_clause(cid, t, cases, claims, cut_short=cut_short) for cid, t in terms.items()}


@dataclass(frozen=True)
class Judgement:
    verdict: str
    must_passed: int
    must_applicable: int
    should_passed: int
    should_applicable: int
    must_failed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    must_not_verified: dict[str, tuple[str, ...]] = field(default_factory=dict)
    expected_failures: tuple[str, ...] = ()    # declared clauses that failed as declared
    unexpected_passes: tuple[str, ...] = ()
    not_applicable: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        return {"must_passed": f"{self.must_passed}/{self.must_applicable}",
                "should_passed": f"{self.should_passed}/{self.should_applicable}",
                "must_failed": {c: list(r) for c, r in self.must_failed.items()},
                "must_not_verified": {c: list(r) for c, r in self.must_not_verified.items()},
                "expected_failures": list(self.expected_failures),
                "unexpected_passes": list(self.unexpected_passes),
                "not_applicable": list(self.not_applicable)}

    @property
    def only_declared_failures_missing(self) -> bool:
        """Incomplete only because of clauses the target declares it fails."""
        return self.verdict == INCOMPLETE and not self.must_not_verified


def judge(terms: Mapping[str, ClauseTerms], results: Mapping[str, ClauseResult]) -> Judgement:
    def with_result(result: str, level: str | None = None) -> list[str]:
        return sorted(c for c, r in results.items()
                      if r.result == result and (level is None or terms[c].level == level))

    def rate(level: str) -> tuple[int, int]:
        applicable = [r for c, r in results.items() if terms[c].level == level and r.result != NOT_APPLICABLE]
        return sum(1 for r in applicable if r.result == PASSED), len(applicable)

    must_failed = {c: results[c].reasons for c in with_result(FAILED, "MUST")}
    must_not_verified = {c: results[c].reasons for c in with_result(NOT_VERIFIED, "MUST")}
    unexpected = with_result(UNEXPECTED_PASS)   # at any level: the target file is wrong
    must_declared = with_result(EXPECTED_FAILURE, "MUST")
    verdict = (NOT_CONFORMANT if must_failed or unexpected else
               INCOMPLETE if must_not_verified or must_declared else CONFORMANT)
    return Judgement(verdict, *rate("MUST"), *rate("SHOULD"), must_failed, must_not_verified,
                     tuple(with_result(EXPECTED_FAILURE)), tuple(unexpected), tuple(with_result(NOT_APPLICABLE)))
