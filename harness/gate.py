"""What a verdict means to a CI gate: the exit code of `faultline run` and `faultline merge`,
and the one line printed per target.

    0    conformant (or, with --accept-declared-failures, incomplete only by declared failures)
    1    not conformant: a MUST clause failed, or a declared expected failure passed
    3    incomplete: nothing failed, but an applicable MUST clause was not verified or is declared
    2    usage error, bad target file, merge refused, harness error, no scenario selected
    130  interrupted (the partial report is still written)
Several targets: the worst, 1 over 3 over 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.judgement import CONFORMANT, INCOMPLETE, NOT_CONFORMANT, NOT_SELECTED

EXIT_CONFORMANT, EXIT_NOT_CONFORMANT, EXIT_ERROR, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
WORST_FIRST = (EXIT_NOT_CONFORMANT, EXIT_INCOMPLETE, EXIT_CONFORMANT)
LINE_CLAUSES = 10   # not-verified clauses named in the one line; the rest are in the report


def exit_code(verdict: Mapping[str, Any], *, accept_declared_failures: bool = False) -> int:
    judged = verdict["verdict"]
    if judged == NOT_CONFORMANT:
        return EXIT_NOT_CONFORMANT
    if judged == INCOMPLETE:
        only_declared = not verdict["summary"]["must_not_verified"]
        return EXIT_CONFORMANT if accept_declared_failures and only_declared else EXIT_INCOMPLETE
    assert judged == CONFORMANT, judged
    return EXIT_CONFORMANT


def worst_exit_code(verdicts: Iterable[Mapping[str, Any]], *, accept_declared_failures: bool = False) -> int:
    codes = {exit_code(v, accept_declared_failures=accept_declared_failures) for v in verdicts}
    return next((code for code in WORST_FIRST if code in codes), EXIT_CONFORMANT)


def verdict_line(verdict: Mapping[str, Any]) -> str:
    """A verdict in one line: the target, its verdict, pass rates, and every clause that keeps it
    from being conformant, with its first reason."""
    summary = verdict["summary"]
    parts = [f"{verdict['implementation']['name']} ({verdict['profile']}): {verdict['verdict']}",
             f"MUST {summary['must_passed']} passed, SHOULD {summary['should_passed']} passed"]
    if summary["must_failed"]:
        parts.append("failed: " + _with_reasons(summary["must_failed"]))
    if summary["unexpected_passes"]:
        parts.append("declared failures that passed: " + ", ".join(summary["unexpected_passes"]))
    if summary["must_not_verified"]:
        unselected = {c for c, reasons in summary["must_not_verified"].items()
                      if reasons and all(r.endswith(NOT_SELECTED) for r in reasons)}
        others = {c: r for c, r in summary["must_not_verified"].items() if c not in unselected}
        if others:
            parts.append("not verified: " + _with_reasons(others))
        if unselected:
            parts.append(f"{len(unselected)} more not run ({NOT_SELECTED}): {_first(sorted(unselected))}")
    if summary["expected_failures"]:
        parts.append("declared failures: " + ", ".join(summary["expected_failures"]))
    return "; ".join(parts)


def _first(clause_ids: list[str]) -> str:
    rest = len(clause_ids) - LINE_CLAUSES
    return ", ".join(clause_ids[:LINE_CLAUSES]) + (", ... (see the report)" if rest > 0 else "")


def _with_reasons(clauses: Mapping[str, list[str]]) -> str:
    named = []
    for clause_id, reasons in list(clauses.items())[:LINE_CLAUSES]:
        more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
        named.append(f"{clause_id} ({reasons[0]}{more})" if reasons else clause_id)
    rest = len(clauses) - LINE_CLAUSES
    return ", ".join(named) + (f", and {rest} more (see the report)" if rest > 0 else "")
