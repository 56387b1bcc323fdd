"""Finding a scenario case by its feature file and name, so tests survive lines moving."""

from __future__ import annotations

from collections.abc import Iterable

from harness.coverage import ScenarioCase


def key_of(table: Iterable[ScenarioCase], feature: str, name: str) -> str:
    """The key of the one case in `feature` (e.g. "gateway/auth") whose name starts with `name`."""
    found = [c.key for c in table if c.key.startswith(f"features/{feature}.feature:") and c.name.startswith(name)]
    assert len(found) == 1, f"{len(found)} cases in {feature} named {name!r}...: {found}"
    return found[0]
