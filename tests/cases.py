"""Finding a scenario case by its feature file and name, so tests survive lines moving."""

from __future__ import annotations

from collections.abc import Iterable

from harness.coverage import ScenarioCase


def key_of(table: Iterable[ScenarioCase], feature: str, name: str) -> str:
    """The key of the one case in `feature` (e.g. "gateway/auth") whose name starts with `name`."""
    found = [c.key for c in table if c.key.startswith(f"features/{feature}.feature:") and c.name.startswith(name)]
    assert len(found) == 1, f"{len(found)} cases in {feature} named {name!r}...: {found}"
    return found[0]


# What a timed check says when the machine's measured tolerance was too coarse for it at the
# scenario's scale: the clause is rightly not verified, and a busy test machine can cause it.
UNDECIDABLE_MARKERS = ("it needs time scale", "the machine was too busy to send it in time")


def undecidable(reason: str) -> bool:
    return any(marker in reason for marker in UNDECIDABLE_MARKERS)


def only_undecidable(not_verified: dict[str, list[str]]) -> bool:
    """Every unverified clause's every reason is a timed check the run could not decide."""
    return all(reasons and all(undecidable(r) for r in reasons) for reasons in not_verified.values())
