"""Chunks and the two kinds of place a chunk can go: a channel to the next stub, or the socket.

A channel is a FIFO with a soft capacity: `put` waits for room (back-pressure), while
`put_nowait` always appends, so an interrupted stub can hand back what it holds without
blocking. A channel is never cancelled half-way: an item is either in it or not.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import NamedTuple, Protocol


class Chunk(NamedTuple):
    data: bytes
    t: float  # loop time the bytes were read, or last released by a delaying toxic


# `None` in a channel marks the end of the stream.
Item = Chunk | None


class Channel:
    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self.retired = False
        self._items: deque[Item] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def put_nowait(self, item: Item) -> None:
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    async def put(self, item: Item) -> bool:
        """Append once there is room; False when the channel was retired meanwhile."""
        while len(self._items) >= self.capacity and not self.retired:
            waiter = asyncio.get_running_loop().create_future()
            self._putters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._putters:
                    self._putters.remove(waiter)
        if self.retired:
            return False
        self.put_nowait(item)
        return True

    async def get(self) -> Item:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._getter = waiter
            try:
                await waiter
            finally:
                self._getter = None
        item = self._items.popleft()
        self._wake_putter()
        return item

    def take_all(self) -> list[Item]:
        items = list(self._items)
        self._items.clear()
        self._wake_putter()
        return items

    def on_space(self, callback: Callable[[], None]) -> None:
        """Call `callback` once there is room again (or the channel is retired)."""
        waiter = asyncio.get_running_loop().create_future()
        waiter.add_done_callback(lambda _: callback())
        self._putters.append(waiter)

    def retire(self) -> None:
        """No one reads this channel any more; blocked writers must route elsewhere."""
        self.retired = True
        while self._putters:
            waiter = self._putters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake_putter(self) -> None:
        while self._putters and len(self._items) < self.capacity:
            waiter = self._putters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class Destination(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


class Sink:
    """The destination socket of a link; the end-of-stream marker closes it."""

    def __init__(self, destination: Destination, on_end: Callable[[], None]) -> None:
        self._destination = destination
        self._on_end = on_end
        self.ended = False

    def put_nowait(self, item: Item) -> None:
        if self.ended:
            return
        if item is None:
            self.ended = True
            self._on_end()
        else:
            self._destination.write(item.data)

    async def drain(self) -> None:
        if not self.ended:
            await self._destination.drain()
