"""Spec time: every policy works in spec seconds; the clock maps them to real time by the scale."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ScaledClock:
    scale: float = 1.0

    def now(self) -> float:
        """Spec seconds on a monotonic clock."""
        return time.monotonic() / self.scale

    def real(self, spec_seconds: float) -> float:
        return spec_seconds * self.scale

    async def sleep(self, spec_seconds: float) -> None:
        await asyncio.sleep(max(0.0, spec_seconds) * self.scale)
