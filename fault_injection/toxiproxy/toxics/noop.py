"""noop: passes every chunk through unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from fault_injection.toxiproxy.stub import Stub


@dataclass(frozen=True)
class Noop:
    type_name: ClassVar[str] = "noop"

    async def pipe(self, stub: Stub) -> None:
        while True:
            chunk = await stub.receive()
            if chunk is None:
                stub.close()
                return
            await stub.send(chunk)
