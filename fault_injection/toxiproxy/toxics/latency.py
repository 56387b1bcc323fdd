"""latency: each chunk leaves `latency ± jitter` ms after it was read.

The delay counts from the chunk's own arrival, so a burst of chunks is not delayed
cumulatively; a chunk released here is stamped anew, so two latency toxics add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from fault_injection.toxiproxy.channel import Chunk
from fault_injection.toxiproxy.toxics.base import sleep_until

if TYPE_CHECKING:
    from fault_injection.toxiproxy.stub import Stub


@dataclass(frozen=True)
class Latency:
    type_name: ClassVar[str] = "latency"
    latency: int = 0
    jitter: int = 0

    def delay_ms(self, stub: Stub) -> int:
        if self.jitter > 0:
            return self.latency + stub.rng.randrange(-self.jitter, self.jitter)
        return self.latency

    async def pipe(self, stub: Stub) -> None:
        async for chunk in stub.chunks():
            await sleep_until(chunk.t + self.delay_ms(stub) / 1000)
            await stub.send(Chunk(chunk.data, stub.now()))
