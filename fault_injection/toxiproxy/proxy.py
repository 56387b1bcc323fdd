"""A proxy: one listener, its live connections, its toxics.

A failed upstream dial closes the accepted client at once (the client sees a connection
that opens and closes). Disabling closes the listener (ECONNREFUSED) and every connection.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
from collections.abc import Callable
from typing import Any

from fault_injection.toxiproxy.addresses import AddressError, join_host_port, resolve, split_host_port
from fault_injection.toxiproxy.connection import Connection
from fault_injection.toxiproxy.endpoint import Endpoint
from fault_injection.toxiproxy.errors import ApiError
from fault_injection.toxiproxy.toxic_collection import ToxicCollection, ToxicEntry

ProxyListener = Callable[[str, "Proxy", dict[str, Any]], None]


class Proxy:
    def __init__(self, name: str, listen: str, upstream: str, seed: str,
                 listener: ProxyListener | None = None) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self._seed = seed
        self._serial = 0
        self._listener = listener
        self._server: asyncio.Server | None = None
        self.connections: set[Connection] = set()
        self._dialing: set[asyncio.Task[Any]] = set()
        self.toxics = ToxicCollection(self._toxic_changed)
        self.lock = asyncio.Lock()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream,
                "enabled": self.enabled, "toxics": [e.to_json() for e in self.toxics.all()]}

    async def differs(self, listen: str, upstream: str) -> bool:
        try:
            resolved = await resolve(listen)
        except AddressError as exc:
            raise ApiError(f"address {listen}: {exc}", 500) from None
        return self.listen != resolved or self.upstream != upstream

    async def start(self) -> None:
        if self.enabled:
            return
        try:
            host, port = split_host_port(self.listen)
        except AddressError as exc:
            raise ApiError(f"listen tcp: {exc}", 500) from None
        try:
            self._server = await asyncio.get_running_loop().create_server(
                lambda: Endpoint(self._accepted), host or None, port, reuse_address=True, backlog=1024)
        except OSError as exc:
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            stage = "bind: " if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES) else ""
            raise ApiError(f"listen tcp {self.listen}: {stage}{reason}", 500) from None
        bound = self._server.sockets[0].getsockname()
        self.listen = join_host_port(bound[0], bound[1])
        self.enabled = True

    async def stop(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._dialing):
            task.cancel()
        connections = list(self.connections)
        tasks = [t for c in connections for t in c.tasks()] + list(self._dialing)
        for connection in connections:
            connection.close()
        await self._settle(tasks)
        if server is not None:
            await server.wait_closed()

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        if await self.differs(listen, upstream):
            await self.stop()
            self.listen, self.upstream = listen, upstream
        await self.set_enabled(enabled)

    async def set_enabled(self, enabled: bool) -> None:
        if enabled == self.enabled:
            return
        if enabled:
            await self.start()
            self._event("enabled", {})
        else:
            await self.stop()
            self._event("disabled", {})

    def _accepted(self, client: Endpoint) -> None:
        task = asyncio.get_running_loop().create_task(self._dial(client))
        self._dialing.add(task)
        task.add_done_callback(self._dialing.discard)

    async def _dial(self, client: Endpoint) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = split_host_port(self.upstream)
            _, upstream = await loop.create_connection(Endpoint, host, port)
        except asyncio.CancelledError:
            client.close()
            raise
        except (OSError, AddressError) as exc:
            client.close()
            self._event("dial_failed", {"client": client.peer, "error": str(exc)})
            return
        if not self.enabled or client.lost:
            client.close()
            upstream.close()
            return
        self._serial += 1
        rng = random.Random(f"{self._seed}:{self.name}:{self._serial}")
        connection = Connection(client, upstream, self.toxics, rng, self._closed)
        self.connections.add(connection)
        self._event("open", {"client": connection.client_address, "upstream": self.upstream})
        connection.start()

    def _closed(self, connection: Connection) -> None:
        self.connections.discard(connection)
        self._event("close", {"client": connection.client_address, "upstream": self.upstream})

    async def _settle(self, tasks: list[asyncio.Task[Any]]) -> None:
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    def _toxic_changed(self, change: str, entry: ToxicEntry) -> None:
        self._event(f"toxic_{change}", entry.to_json())

    def _event(self, what: str, data: dict[str, Any]) -> None:
        if self._listener is not None:
            self._listener(what, self, data)
