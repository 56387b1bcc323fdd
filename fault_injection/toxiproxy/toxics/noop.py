"""noop: passes every chunk through unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from fault_injection.toxiproxy.stub import pass_through

if TYPE_CHECKING:
    from fault_injection.toxiproxy.stub import Stub


@dataclass(frozen=True)
class Noop:
    type_name: ClassVar[str] = "noop"

    async def pipe(self, stub: Stub) -> None:
        await pass_through(stub)
