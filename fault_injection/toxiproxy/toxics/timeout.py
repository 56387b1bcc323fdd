"""timeout: drops all data; closes the connection after `timeout` ms without incoming data.

Each dropped chunk restarts the timer (upstream re-arms it on every loop). `timeout: 0`
never closes. Removing the toxic closes the connection, as upstream's Cleanup does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from fault_injection.toxiproxy.stub import Stub


@dataclass(frozen=True)
class Timeout:
    type_name: ClassVar[str] = "timeout"
    timeout: int = 0

    async def pipe(self, stub: Stub) -> None:
        while True:
            try:
                if self.timeout > 0:
                    async with asyncio.timeout(self.timeout / 1000):
                        chunk = await stub.receive()
                else:
                    chunk = await stub.receive()
            except TimeoutError:
                stub.close()
                return
            stub.drop()
            if chunk is None:
                stub.close()
                return

    def cleanup(self, stub: Stub) -> None:
        stub.close()
