"""A link: one direction of one connection, a source socket feeding a chain of stubs into a sink.

With no toxics, bytes go from `data_received` straight to the destination socket. Adding,
updating or removing a toxic interrupts only the stubs whose wiring changes; chunks they or
their channels hold move on in order, so live connections pick up toxics without losing data.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from fault_injection.toxiproxy.channel import Channel, Chunk, Sink
from fault_injection.toxiproxy.endpoint import Endpoint
from fault_injection.toxiproxy.stub import Stub
from fault_injection.toxiproxy.toxic_collection import ToxicEntry


class Link:
    def __init__(self, source: Endpoint, dest: Endpoint, entries: list[ToxicEntry], rng: random.Random,
                 on_end: Callable[[Link], None]) -> None:
        self._source = source
        self._dest = dest
        self._rng = rng
        self._on_end = on_end
        self._loop = asyncio.get_running_loop()
        self.sink = Sink(dest, self._end)
        self.stubs: list[Stub] = []
        self.done = False
        self._lock = asyncio.Lock()
        self._waiting_for_space = False
        for entry in entries:
            self._append(entry)

    def start(self) -> None:
        for stub in self.stubs:
            stub.start()

    # Fed by the source endpoint.

    def feed(self, data: bytes | None) -> None:
        if self.done:
            return
        item = Chunk(data, self._loop.time()) if data is not None else None
        if not self.stubs:
            self.sink.put_nowait(item)
            return
        head = self.stubs[0].input
        head.put_nowait(item)
        if len(head) >= head.capacity and not self._waiting_for_space:
            self._waiting_for_space = True
            self._source.pause_reading("toxics")
            head.on_space(self._space_again)

    def _space_again(self) -> None:
        self._waiting_for_space = False
        self._source.resume_reading("toxics")

    def writable(self, ready: bool) -> None:
        """The destination's write buffer crossed a watermark: hold or release the source."""
        if ready:
            self._source.resume_reading("destination")
        else:
            self._source.pause_reading("destination")

    def _stub_rng(self, entry: ToxicEntry) -> random.Random:
        # One generator per stub, derived from the link's: draws do not depend on scheduling.
        return random.Random(f"{self._rng.random()}:{entry.name}")

    def _append(self, entry: ToxicEntry) -> Stub:
        channel = Channel(entry.buffer_size)
        if self.stubs:
            self.stubs[-1].output = channel
        stub = Stub(entry, channel, self.sink, self._stub_rng(entry))
        self.stubs.append(stub)
        return stub

    async def add(self, entry: ToxicEntry) -> None:
        async with self._lock:
            if self.done:
                return
            previous = self.stubs[-1] if self.stubs else None
            if previous is not None:
                await previous.interrupt()
                if self.done:
                    return
            stub = self._append(entry)
            stub.start()
            if previous is not None:
                previous.start()

    async def update(self, entry: ToxicEntry) -> None:
        async with self._lock:
            stub = self._find(entry.name)
            if self.done or stub is None:
                return
            await stub.interrupt()
            stub.entry = entry
            stub.start()

    async def remove(self, entry: ToxicEntry) -> None:
        async with self._lock:
            stub = self._find(entry.name)
            if self.done or stub is None:
                return
            index = self.stubs.index(stub)
            await stub.interrupt()
            cleanup = getattr(entry.toxic, "cleanup", None)
            if cleanup is not None:
                cleanup(stub)
                if stub.closed:
                    return  # the end of stream is on its way; the link is closing
            previous = self.stubs[index - 1] if index > 0 else None
            if previous is not None:
                await previous.interrupt()
            if self.done:
                return
            # What waits for the removed stub is older than anything still arriving upstream of it.
            stub.hand_over(stub.input.take_all())
            del self.stubs[index]
            stub.input.retire()
            if previous is not None:
                previous.output = stub.output
                previous.start()

    def _find(self, name: str) -> Stub | None:
        return next((s for s in self.stubs if s.entry.name == name), None)

    def _end(self) -> None:
        """The end of stream reached the sink: close the destination, stop this link."""
        self.done = True
        self._dest.close()
        current = asyncio.current_task()
        for stub in self.stubs:
            if stub.task is not current:
                stub.cancel()
        self._on_end(self)

    def abort(self) -> None:
        if not self.done:
            self.sink.ended = True
            self._end()

    def tasks(self) -> list[asyncio.Task[None]]:
        return [s.task for s in self.stubs if s.task is not None]
