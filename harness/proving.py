"""Which deliberately broken references prove which clauses: the defect catalogues, read per clause.

A defect names the clauses it breaks; the self-validation (tests/test_defects.py) proves each
of them catches it in isolation, so a clause named by a defect has a scenario shown to fail for
the violation that defect is. A MUST clause named by none is unproven.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from reference.gateway.defects import DEFECTS as GATEWAY_DEFECTS
from reference.hive.defects import DEFECTS as HIVE_DEFECTS

CATALOGUES: Mapping[str, Mapping[str, object]] = {"gateway": GATEWAY_DEFECTS, "hive": HIVE_DEFECTS}


def defects_by_clause() -> dict[str, list[str]]:
    """Clause id -> the names of the defects that name it, as `profile/defect`."""
    found: dict[str, list[str]] = defaultdict(list)
    for profile, defects in CATALOGUES.items():
        for name, defect in sorted(defects.items()):
            for clause in getattr(defect, "clauses", ()):
                found[clause].append(f"{profile}/{name}")
    return dict(found)
