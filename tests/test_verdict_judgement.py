"""Clause results and verdicts from case outcomes (harness.judgement): one test per verdict state
and per reason a clause is not verified."""

from __future__ import annotations

import pytest

from harness.judgement import (CONFORMANT, EXPECTED_FAILURE, FAILED, INCOMPLETE, NOT_APPLICABLE, NOT_CONFORMANT,
                               NOT_VERIFIED, PASSED, SLOW_REASON, UNEXPECTED_PASS, CaseResult, Claims, ClauseTerms,
                               judge, judge_clause, judge_clauses, why_not_applicable)

MUST, SHOULD = ClauseTerms("MUST"), ClauseTerms("SHOULD")
TERMS = {"A": MUST, "B": MUST, "S": SHOULD}
NO_CLAIMS = Claims()


def case(name: str, *clauses: str, outcome: str = "passed", reason: str = "", **rest: object) -> CaseResult:
    return CaseResult(name, clauses, outcome, reason, **rest)  # type: ignore[arg-type]


def result_of(clause: str, cases: dict[str, CaseResult], claims: Claims = NO_CLAIMS, terms: ClauseTerms = MUST,
              cut_short: bool = False) -> tuple[str, tuple[str, ...]]:
    judged = judge_clause(clause, terms, cases, claims, cut_short=cut_short)
    return judged.result, judged.reasons


def test_a_clause_whose_every_scenario_passed_passes() -> None:
    cases = {"f:1": case("one", "A"), "f:2": case("two", "A", "B", outcome="xpassed")}
    assert result_of("A", cases) == (PASSED, ())


def test_one_passing_and_one_skipped_scenario_leave_the_clause_not_verified() -> None:
    cases = {"f:1": case("one", "A"), "f:2": case("two", "A", outcome="skipped", reason="log not visible")}
    assert result_of("A", cases) == (NOT_VERIFIED, ("two: skipped: log not visible",))


def test_a_failure_wins_over_everything_else_and_names_its_reason() -> None:
    cases = {"f:1": case("one", "A", outcome="skipped", reason="x"), "f:2": case("two", "A", outcome="failed",
                                                                                 reason="AssertionError: 3 != 1")}
    assert result_of("A", cases) == (FAILED, ("two: failed: AssertionError: 3 != 1",))


def test_a_deselected_scenario_is_not_run() -> None:
    cases = {"f:1": case("one", "A", outcome="not run")}
    assert result_of("A", cases) == (NOT_VERIFIED, ("one: not run: deselected or not selected",))


def test_a_scenario_a_cut_short_run_never_reached_is_not_run_for_that_reason() -> None:
    cases = {"f:1": case("one", "A", outcome="not run")}
    assert result_of("A", cases, cut_short=True) == (NOT_VERIFIED, ("one: not run: the run was cut short",))


def test_a_clause_without_a_scenario_is_not_verified() -> None:
    assert result_of("A", {"f:1": case("other", "B")}) == (NOT_VERIFIED, ("no scenario",))


def test_a_clause_whose_every_scenario_needs_an_unclaimed_feature_is_not_verified() -> None:
    gated = {"f:1 [anthropic]": case("one [anthropic]", "A", outcome="skipped", applies=False,
                                     why_not_applicable="target t does not claim anthropic_upstream",
                                     needs=frozenset({"anthropic_upstream"})),
             "f:1 [gemini]": case("one [gemini]", "A", outcome="skipped", applies=False, why_not_applicable="...",
                                  needs=frozenset({"gemini_upstream"}))}
    assert result_of("A", gated) == (NOT_VERIFIED, (
        "every scenario of it needs optional feature(s) anthropic_upstream, gemini_upstream, which the target "
        "does not claim",))


def test_scenarios_that_do_not_apply_never_make_a_clause_unverified() -> None:
    cases = {"f:1": case("one", "A"),
             "f:2": case("two", "A", outcome="skipped", applies=False, why_not_applicable=SLOW_REASON, slow=True)}
    assert result_of("A", cases) == (PASSED, ())


def test_a_slow_only_clause_without_slow_is_not_verified_saying_so() -> None:
    cases = {"f:2": case("real time", "A", outcome="skipped", applies=False, why_not_applicable=SLOW_REASON,
                         slow=True)}
    result, reasons = result_of("A", cases)
    assert result == NOT_VERIFIED
    assert reasons == (f"no scenario of it applies to this run: real time ({SLOW_REASON})",)


def test_a_clause_of_an_unclaimed_feature_is_not_applicable() -> None:
    cases = {"f:1": case("one", "A", outcome="skipped", applies=False, why_not_applicable="...")}
    assert result_of("A", cases, terms=ClauseTerms("MUST", "streaming")) == (
        NOT_APPLICABLE, ("part of optional feature streaming, which the target does not claim",))
    claimed = Claims(features=frozenset({"streaming"}))
    assert result_of("A", {"f:1": case("one", "A")}, claimed, ClauseTerms("MUST", "streaming")) == (PASSED, ())


def test_a_declared_clause_that_failed_is_an_expected_failure() -> None:
    declared = Claims(expected_failures=frozenset({"A"}))
    cases = {"f:1": case("one", "A", outcome="xfailed", reason="AssertionError: no")}
    assert result_of("A", cases, declared) == (EXPECTED_FAILURE, ("one: failed: AssertionError: no",))


def test_a_declared_clause_that_passed_is_an_unexpected_pass() -> None:
    declared = Claims(expected_failures=frozenset({"A"}))
    assert result_of("A", {"f:1": case("one", "A", outcome="xpassed")}, declared)[0] == UNEXPECTED_PASS


def test_a_declared_clause_that_did_not_run_is_not_verified_and_says_it_is_declared() -> None:
    declared = Claims(expected_failures=frozenset({"A"}))
    result, reasons = result_of("A", {"f:1": case("one", "A", outcome="skipped", reason="no log")}, declared)
    assert result == NOT_VERIFIED and reasons == ("declared in expected_failures", "one: skipped: no log")


def test_an_xfailed_scenario_cannot_fail_or_pass_the_undeclared_clauses_it_shares() -> None:
    declared = Claims(expected_failures=frozenset({"A"}))
    cases = {"f:1": case("both", "A", "B", outcome="xfailed"), "f:2": case("b only", "B")}
    assert result_of("B", cases, declared) == (NOT_VERIFIED, (
        "its scenario both failed, and that scenario also checks the declared expected failure(s) A, so the failure "
        "cannot be attributed",))
    assert result_of("A", cases, declared)[0] == EXPECTED_FAILURE


def verdict_of(cases: dict[str, CaseResult], claims: Claims = NO_CLAIMS) -> str:
    return judge(TERMS, judge_clauses(TERMS, cases, claims, cut_short=False)).verdict


def test_every_must_clause_passed_is_conformant_even_with_a_should_clause_failing() -> None:
    cases = {"f:1": case("ab", "A", "B"), "f:2": case("s", "S", outcome="failed")}
    judgement = judge(TERMS, judge_clauses(TERMS, cases, Claims(), cut_short=False))
    assert judgement.verdict == CONFORMANT
    assert (judgement.must_passed, judgement.must_applicable) == (2, 2)
    assert (judgement.should_passed, judgement.should_applicable) == (0, 1)


def test_a_failed_must_clause_is_not_conformant() -> None:
    assert verdict_of({"f:1": case("a", "A", outcome="failed"), "f:2": case("b", "B")}) == NOT_CONFORMANT


def test_an_unexpected_pass_at_any_level_is_not_conformant() -> None:
    cases = {"f:1": case("ab", "A", "B"), "f:2": case("s", "S", outcome="xpassed")}
    assert verdict_of(cases, Claims(expected_failures=frozenset({"S"}))) == NOT_CONFORMANT


def test_an_unverified_must_clause_is_incomplete_and_stays_in_the_denominator() -> None:
    cases = {"f:1": case("a", "A"), "f:2": case("b", "B", outcome="skipped", reason="cannot signal it")}
    judgement = judge(TERMS, judge_clauses(TERMS, cases, Claims(), cut_short=False))
    assert judgement.verdict == INCOMPLETE
    assert judgement.summary()["must_passed"] == "1/2"
    assert judgement.summary()["must_not_verified"] == {"B": ["b: skipped: cannot signal it"]}
    assert not judgement.only_declared_failures_missing


def test_a_declared_must_failure_is_incomplete_and_only_that() -> None:
    claims = Claims(expected_failures=frozenset({"B"}))
    cases = {"f:1": case("a", "A"), "f:2": case("b", "B", outcome="xfailed")}
    judgement = judge(TERMS, judge_clauses(TERMS, cases, claims, cut_short=False))
    assert judgement.verdict == INCOMPLETE and judgement.only_declared_failures_missing
    assert judgement.summary()["expected_failures"] == ["B"] and judgement.summary()["must_passed"] == "1/2"


def test_not_applicable_clauses_count_nowhere() -> None:
    terms = {"A": MUST, "F": ClauseTerms("MUST", "metrics")}
    judgement = judge(terms, judge_clauses(terms, {"f:1": case("a", "A")}, Claims(), cut_short=False))
    assert judgement.verdict == CONFORMANT and judgement.summary()["must_passed"] == "1/1"
    assert judgement.not_applicable == ("F",)


@pytest.mark.parametrize(("needs", "slow", "run_slow", "why"), [
    (set(), False, False, None), ({"metrics"}, False, False, "target t does not claim optional feature(s) metrics"),
    ({"streaming"}, False, False, None), (set(), True, False, SLOW_REASON), (set(), True, True, None),
    ({"metrics"}, True, True, "target t does not claim optional feature(s) metrics")])
def test_a_case_applies_unless_it_needs_an_unclaimed_feature_or_is_slow_without_slow(
        needs: set[str], slow: bool, run_slow: bool, why: str | None) -> None:
    assert why_not_applicable("t", {"streaming"}, needs, slow, run_slow) == why
