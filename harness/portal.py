"""One background event loop behind a synchronous facade.

pytest-bdd calls steps synchronously and silently discards a coroutine returned by an
`async def` step, so async work (fake servers, the proxy, streaming clients) lives on one
long-lived loop in a thread, and steps reach it through `BackgroundLoop.call`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

T = TypeVar("T")


class BackgroundLoop:
    def __init__(self) -> None:
        self._context: AbstractContextManager[BlockingPortal] = start_blocking_portal("asyncio")
        self._portal: BlockingPortal = self._context.__enter__()

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(*args)` on the loop and wait for its result."""
        return self._portal.call(fn, *args)

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain function on the loop thread (for loop-bound objects)."""
        return self._portal.call(fn, *args)

    @property
    def portal(self) -> BlockingPortal:
        return self._portal

    def close(self) -> None:
        self._context.__exit__(None, None, None)

    def __enter__(self) -> BackgroundLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
