"""One toxic's place in a link: its input, its output, its per-connection state, its task.

Interrupting a stub cancels its task; whatever the toxic was holding (`pending`) is handed
to the output at once, so reconfiguring a link never drops or reorders data. Toxics whose
job is to drop data call `drop()` first.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fault_injection.toxiproxy.channel import Channel, Chunk, Item, Sink

if TYPE_CHECKING:
    from fault_injection.toxiproxy.toxic_collection import ToxicEntry

log = logging.getLogger(__name__)


class Stub:
    def __init__(self, entry: ToxicEntry, input: Channel, output: Channel | Sink,
                 rng: random.Random) -> None:
        self.entry = entry
        self.input = input
        self.output = output
        self.rng = rng
        self.state: dict[str, Any] = {}
        self.pending: list[Chunk] = []
        self.closed = False
        self.eof_seen = False
        self._task: asyncio.Task[None] | None = None

    # The toxic's side.

    async def receive(self) -> Chunk | None:
        if self.eof_seen:
            return None
        item = await self.input.get()
        if item is None:
            self.eof_seen = True
            return None
        self.pending = [item]
        return item

    async def chunks(self) -> AsyncIterator[Chunk]:
        """Every chunk until the end of the stream, which is then passed on (closed) downstream."""
        while (chunk := await self.receive()) is not None:
            yield chunk
        self.close()

    async def send(self, chunk: Chunk, rest: Chunk | None = None) -> None:
        """Pass `chunk` on; `rest` is what the toxic still holds afterwards."""
        self.pending = [chunk] if rest is None else [chunk, rest]
        output = self.output
        if isinstance(output, Sink):
            output.put_nowait(chunk)
            self.pending = [] if rest is None else [rest]
            await output.drain()
        else:
            await output.put(chunk)
            self.pending = [] if rest is None else [rest]

    def drop(self) -> None:
        self.pending = []

    def close(self) -> None:
        """End the stream downstream of this toxic (the connection closes once it arrives)."""
        if not self.closed:
            self.closed = True
            self.pending = []
            self.output.put_nowait(None)

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    # The link's side.

    def start(self) -> None:
        if self.closed:
            return
        # Toxicity is rolled whenever the stub (re)starts, as upstream does.
        toxic = self.entry.toxic if self.rng.random() < self.entry.toxicity else None
        self._task = asyncio.get_running_loop().create_task(self._run(toxic))

    async def _run(self, toxic: Any) -> None:
        try:
            if toxic is None:
                await pass_through(self)
            else:
                await toxic.pipe(self)
        except asyncio.CancelledError:
            for chunk in self.pending:
                self.output.put_nowait(chunk)
            self.pending = []
            raise
        except Exception:
            # A broken toxic ends its stream rather than hanging the connection.
            log.exception("toxic %s failed", self.entry.name)
            self.close()

    async def interrupt(self) -> None:
        task = self._task
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait([task])

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def hand_over(self, items: list[Item]) -> None:
        for item in items:
            self.output.put_nowait(item)


async def pass_through(stub: Stub) -> None:
    async for chunk in stub.chunks():
        await stub.send(chunk)
