"""slow_close: data passes unchanged; the end of the stream is held back `delay` ms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from fault_injection.toxiproxy.toxics.base import sleep_until

if TYPE_CHECKING:
    from fault_injection.toxiproxy.stub import Stub


@dataclass(frozen=True)
class SlowClose:
    type_name: ClassVar[str] = "slow_close"
    delay: int = 0

    async def pipe(self, stub: Stub) -> None:
        while True:
            chunk = await stub.receive()
            if chunk is None:
                # Kept in state so a restart of the stub does not wait the whole delay again.
                deadline = stub.state.setdefault("close_at", stub.now() + self.delay / 1000)
                await sleep_until(deadline)
                stub.close()
                return
            await stub.send(chunk)


