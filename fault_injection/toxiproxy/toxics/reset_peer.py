"""reset_peer: on the first chunk (dropped), wait `timeout` ms, then close the connection.

The close is a TCP RST only when the toxic was present as the connection was accepted:
that is when the proxy sets SO_LINGER 0 on both sockets, exactly as upstream does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from fault_injection.toxiproxy.toxics.base import sleep_until

if TYPE_CHECKING:
    from fault_injection.toxiproxy.stub import Stub


@dataclass(frozen=True)
class ResetPeer:
    type_name: ClassVar[str] = "reset_peer"
    timeout: int = 0

    async def pipe(self, stub: Stub) -> None:
        # Upstream's post-data sleep is not interruptible; the deadline survives restarts.
        deadline = stub.state.get("reset_at")
        if deadline is None:
            await stub.receive()
            stub.drop()
            deadline = stub.state["reset_at"] = stub.now() + self.timeout / 1000
        await sleep_until(deadline)
        stub.close()
