"""limit_data: forwards at most `bytes` bytes per connection, then closes it.

The count lives in the stub's state, so it survives toxic updates and restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from fault_injection.toxiproxy.channel import Chunk

if TYPE_CHECKING:
    from fault_injection.toxiproxy.stub import Stub


@dataclass(frozen=True)
class LimitData:
    type_name: ClassVar[str] = "limit_data"
    bytes: int = 0

    async def pipe(self, stub: Stub) -> None:
        async for chunk in stub.chunks():
            sent = stub.state.get("transmitted", 0)
            allowed = max(self.bytes - sent, 0)
            data = chunk.data[:allowed]
            if data:
                stub.state["transmitted"] = sent + len(data)
                await stub.send(Chunk(data, chunk.t))
            else:
                stub.drop()
            if self.bytes - stub.state.get("transmitted", 0) <= 0:
                stub.close()
                return
