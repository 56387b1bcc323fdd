"""Clause tags as Allure labels and links, and evidence as Allure attachments.

Calls go through allure's dynamic API, which does nothing when allure-pytest-bdd is not
recording (no --alluredir). Labels must be added once the scenario's Allure test case exists,
i.e. from `pytest_bdd_before_scenario` after allure's own hook has scheduled it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import allure

from catalogue import Clause
from harness.report.model import clause_anchor

# Relative to the Allure report, rendered into reports/allure-report/ beside conformance.html.
CONFORMANCE_REPORT = "../conformance.html"


def label_scenario(clauses: Iterable[Clause], target: str, profile: str) -> None:
    known = list(clauses)
    allure.dynamic.label("profile", profile)
    allure.dynamic.label("target", target)
    allure.dynamic.parent_suite(target)
    levels = sorted({c.level for c in known})
    for level in levels:
        allure.dynamic.label("level", level)
    allure.dynamic.severity(allure.severity_level.CRITICAL if "MUST" in levels else allure.severity_level.NORMAL)
    for clause in known:
        allure.dynamic.label("clause", clause.id)
        allure.dynamic.link(f"{CONFORMANCE_REPORT}#{clause_anchor(target, clause.id)}", link_type="clause",
                            name=f"{clause.id} ({clause.level}): {clause.text}")


def attach_evidence(texts: Mapping[str, str]) -> None:
    for name, text in texts.items():
        allure.attach(text, name=name, attachment_type=allure.attachment_type.TEXT)
