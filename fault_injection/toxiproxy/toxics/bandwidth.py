"""bandwidth: at most `rate` KB/s (1 KB = 1000 bytes).

Chunks bigger than 100 ms worth of bytes go out in 100 ms slices; the rounding error of
each sleep is carried into the next. `rate: 0` lets nothing through (upstream stalls too).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from fault_injection.toxiproxy.channel import Chunk
from fault_injection.toxiproxy.toxics.base import forever

if TYPE_CHECKING:
    from fault_injection.toxiproxy.stub import Stub

SLICE_SECONDS = 0.1


@dataclass(frozen=True)
class Bandwidth:
    type_name: ClassVar[str] = "bandwidth"
    rate: int = 0

    async def pipe(self, stub: Stub) -> None:
        owed = 0.0  # seconds of sleep still owed for bytes already passed
        slice_bytes = self.rate * 100
        async for chunk in stub.chunks():
            if self.rate <= 0:
                await forever()
            owed += len(chunk.data) / (self.rate * 1000)
            data = chunk.data
            while len(data) > slice_bytes:
                await asyncio.sleep(SLICE_SECONDS)
                rest = Chunk(data[slice_bytes:], chunk.t)
                await stub.send(Chunk(data[:slice_bytes], chunk.t), rest)
                data = rest.data
                owed -= SLICE_SECONDS
            started = stub.now()
            if owed > 0:
                await asyncio.sleep(owed)
            owed -= stub.now() - started
            await stub.send(Chunk(data, chunk.t))
