"""The self-validation's judge: a defect counts as caught only on a failed check of its clause
that names what it breaks, with the target serving."""

from __future__ import annotations

from typing import Any

from tests.defect_catch import judge_catch

ASSERTION = r"expected 6 attempts"


def case(outcome: str, checks: list[dict[str, Any]] | None = None, reason: str = "",
         clauses: tuple[str, ...] = ("GW-RETRY-004", "GW-VOC-004")) -> dict[str, Any]:
    return {"name": "A provider that keeps failing", "clauses": list(clauses), "applies": True, "outcome": outcome,
            "reason": reason, "checks": checks or []}


def check(outcome: str, message: str, clauses: tuple[str, ...] = ("GW-RETRY-004",)) -> dict[str, Any]:
    return {"step": "Then the provider received 6 requests", "clauses": list(clauses), "outcome": outcome,
            "message": message}


def verdict(*cases: dict[str, Any]) -> dict[str, Any]:
    return {"scenarios": {f"features/gateway/x.feature:{n}": c for n, c in enumerate(cases, start=1)}}


def test_a_failed_check_of_the_clause_that_names_the_defect_is_a_catch() -> None:
    [catch] = judge_catch(verdict(case("failed", [check("passed", ""), check("failed", "got 7, expected 6 attempts")],
                                       reason="1 check(s) failed")), ["GW-RETRY-004"], ASSERTION)
    assert catch.caught_by == ("A provider that keeps failing",) and catch.missed_by == ()


def test_the_same_failure_on_a_check_of_another_clause_is_a_miss() -> None:
    failed = check("failed", "got 7, expected 6 attempts", clauses=("GW-VOC-004",))
    [catch] = judge_catch(verdict(case("failed", [failed])), ["GW-RETRY-004"], ASSERTION)
    assert catch.caught_by == () and "failed on another check" in catch.missed_by[0]


def test_an_unrelated_failed_check_is_a_miss_and_says_which_check_failed() -> None:
    [catch] = judge_catch(verdict(case("failed", [check("failed", "not a conforming error envelope")])),
                          ["GW-RETRY-004"], ASSERTION)
    assert catch.caught_by == () and "not a conforming error envelope" in catch.missed_by[0]


def test_set_up_errors_skips_and_passes_are_misses() -> None:
    for outcome, reason in (("failed", "setup failed: TargetStartError: exited 1 expected 6 attempts"),
                            ("skipped", "not verified: expected 6 attempts"), ("passed", "")):
        [catch] = judge_catch(verdict(case(outcome, reason=reason)), ["GW-RETRY-004"], ASSERTION)
        assert catch.caught_by == (), (outcome, catch)


def test_a_failure_outside_the_checks_counts_only_when_it_names_the_defect() -> None:
    """An answer that never came fails the When step: no check ran, the scenario's failure is the evidence."""
    [caught] = judge_catch(verdict(case("failed", reason="NoAnswer: expected 6 attempts within 9 s")),
                           ["GW-RETRY-004"], ASSERTION)
    [missed] = judge_catch(verdict(case("failed", reason="KeyError: 'details'")), ["GW-RETRY-004"], ASSERTION)
    assert caught.caught_by and not missed.caught_by


def test_a_clause_no_scenario_of_which_ran_is_a_miss() -> None:
    [catch] = judge_catch(verdict(), ["GW-RETRY-004"], ASSERTION)
    assert catch.caught_by == () and "no scenario of it ran" in catch.missed_by[0]
