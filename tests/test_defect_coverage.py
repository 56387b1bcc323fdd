"""Every clause a profile must meet is proven by a defect, and every defect says what catches it.

A clause is proven when a defect of its profile names it: tests/test_defects.py then shows that
defect caught, in isolation, by a scenario of the clause failing on the defect's assertion. A
defect without an assertion would count any failure as a catch; one naming another profile's
clause, or an unknown one, would select scenarios that cannot catch it.
"""

from __future__ import annotations

import re

import pytest

from catalogue import catalogue
from harness.proving import CATALOGUES, defects_by_clause

PROFILES = [pytest.param("gateway", ("MUST", "SHOULD"), id="gateway"),
            pytest.param("hive", ("MUST", "SHOULD"), id="hive")]
# An assertion pattern that matches this would take any failure for a catch.
UNRELATED_FAILURE = "AssertionError: a failure about something else entirely"


@pytest.mark.parametrize(("profile", "levels"), PROFILES)
def test_every_clause_the_profile_must_meet_is_proven_by_a_defect(profile: str, levels: tuple[str, ...]) -> None:
    proving = defects_by_clause()
    unproven = [c.id for c in catalogue().for_profile(profile) if c.level in levels
                and not any(name.startswith(f"{profile}/") for name in proving.get(c.id, []))]
    assert not unproven, f"{profile} {'/'.join(levels)} clauses no defect proves: {', '.join(unproven)}"


@pytest.mark.parametrize(("profile", "levels"), PROFILES)
def test_every_defect_names_its_assertion_and_only_clauses_of_its_profile(profile: str,
                                                                          levels: tuple[str, ...]) -> None:
    known = catalogue().clauses
    problems = []
    for name, defect in sorted(CATALOGUES[profile].items()):
        assertion = getattr(defect, "assertion", "")
        clauses = getattr(defect, "clauses", ())
        if not assertion.strip():
            problems.append(f"{name}: no assertion")
        else:
            try:
                if re.search(assertion, UNRELATED_FAILURE):
                    problems.append(f"{name}: assertion /{assertion}/ matches any failure, not the check meant "
                                    f"to catch it")
            except re.error as exc:
                problems.append(f"{name}: assertion /{assertion}/ is not a regex ({exc})")
        if not clauses:
            problems.append(f"{name}: names no clause")
        problems += [f"{name}: {c} is not a {profile} clause of the catalogue" for c in clauses
                     if c not in known or known[c].profile != profile]
    assert not problems, "\n".join(problems)


def test_the_coverage_check_finds_an_unproven_clause_and_a_defect_without_assertion(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks above on a broken catalogue: a defect removed leaves its clause unproven, and an
    assertion emptied is reported."""
    gateway = dict(CATALOGUES["gateway"])
    name, defect = next((n, d) for n, d in sorted(gateway.items()) if "GW-ENV-006" in d.clauses)
    monkeypatch.setitem(CATALOGUES, "gateway", {n: d for n, d in gateway.items() if "GW-ENV-006" not in d.clauses})
    with pytest.raises(AssertionError, match="GW-ENV-006"):
        test_every_clause_the_profile_must_meet_is_proven_by_a_defect("gateway", ("MUST", "SHOULD"))
    monkeypatch.setitem(CATALOGUES, "gateway", {**gateway, name: type(defect)(defect.description, defect.clauses,
                                                                              defect.components, "")})
    with pytest.raises(AssertionError, match=f"{name}: no assertion"):
        test_every_defect_names_its_assertion_and_only_clauses_of_its_profile("gateway", ("MUST",))
