"""slicer: splits each chunk into pieces of about `average_size ± size_variation` bytes,
sending them `delay` microseconds apart."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from fault_injection.toxiproxy.channel import Chunk
from fault_injection.toxiproxy.toxics.base import AttributeError400

if TYPE_CHECKING:
    from fault_injection.toxiproxy.stub import Stub


@dataclass(frozen=True)
class Slicer:
    type_name: ClassVar[str] = "slicer"
    average_size: int = 0
    size_variation: int = 0
    delay: int = 0

    def __post_init__(self) -> None:
        # Upstream recurses without end on a zero average; refuse it instead.
        if self.average_size < 1:
            raise AttributeError400("attribute average_size must be at least 1")
        if self.size_variation >= self.average_size:
            raise AttributeError400("attribute size_variation must be less than average_size")

    def bounds(self, start: int, end: int, rng: random.Random) -> list[int]:
        """Cut points of [start, end), halving around the middle until pieces are small."""
        if (end - start) - self.average_size <= self.size_variation:
            return [start, end]
        mid = start + (end - start) // 2
        if self.size_variation > 0:
            mid += rng.randrange(-self.size_variation, self.size_variation)
        return self.bounds(start, mid, rng) + self.bounds(mid, end, rng)

    async def pipe(self, stub: Stub) -> None:
        async for chunk in stub.chunks():
            cuts = self.bounds(0, len(chunk.data), stub.rng)
            for i in range(1, len(cuts), 2):
                piece = chunk.data[cuts[i - 1]:cuts[i]]
                rest = chunk.data[cuts[i]:]
                await stub.send(Chunk(piece, chunk.t), Chunk(rest, chunk.t) if rest else None)
                await asyncio.sleep(self.delay / 1_000_000)
