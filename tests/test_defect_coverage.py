"""Coverage you can read: every MUST clause of a profile is proven by a deliberately broken reference,
and every defect says which check must catch it and names only clauses of its own profile.

A profile is listed once every MUST clause of it has a proving defect; tests/test_defects.py then
shows each defect caught in isolation, on its assertion.
"""

from __future__ import annotations

import re

import pytest

from catalogue import catalogue
from harness.proving import CATALOGUES, defects_by_clause

PROFILES = ("hive",)
UNRELATED_FAILURE = "AssertionError: a failure about something else entirely"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_must_clause_is_proven_by_a_defect(profile: str) -> None:
    proofs = defects_by_clause()
    unproven = [c.id for c in catalogue().for_profile(profile) if c.level == "MUST" and not proofs.get(c.id)]
    assert not unproven, f"{len(unproven)} {profile} MUST clause(s) no defect proves: {unproven}"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_defect_names_its_check_and_only_clauses_of_its_profile(profile: str) -> None:
    clauses = {c.id for c in catalogue().for_profile(profile)}
    problems = []
    for name, defect in CATALOGUES[profile].items():
        assertion = str(getattr(defect, "assertion", ""))
        named = tuple(getattr(defect, "clauses", ()))
        if not named:
            problems.append(f"{name}: names no clause")
        if foreign := [c for c in named if c not in clauses]:
            problems.append(f"{name}: names clauses that are not {profile} clauses of the catalogue: {foreign}")
        try:
            compiled = re.compile(assertion)
        except re.error as exc:
            problems.append(f"{name}: assertion /{assertion}/ is not a regular expression: {exc}")
            continue
        if not assertion.strip() or compiled.search(UNRELATED_FAILURE):
            problems.append(f"{name}: assertion /{assertion}/ does not name the check meant to catch it")
    assert not problems, "\n".join(problems)
