"""One proxied TCP connection: client and upstream sockets joined by two links."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from fault_injection.toxiproxy.endpoint import Endpoint
from fault_injection.toxiproxy.link import Link
from fault_injection.toxiproxy.toxic_collection import ToxicCollection


class Connection:
    def __init__(self, client: Endpoint, upstream: Endpoint, toxics: ToxicCollection,
                 rng: random.Random, on_closed: Callable[[Connection], None]) -> None:
        self.client_address = client.peer
        self._client = client
        self._upstream = upstream
        self._toxics = toxics
        self._on_closed = on_closed
        self.closed = False
        if any(e.type == "reset_peer" for e in toxics.all()):
            # Decided at accept time and whatever the toxicity, as upstream does (issue #603).
            client.set_linger_reset()
            upstream.set_linger_reset()
        self.links = {
            "upstream": Link(client, upstream, toxics.chains["upstream"], rng, self._link_ended),
            "downstream": Link(upstream, client, toxics.chains["downstream"], rng, self._link_ended),
        }

    def start(self) -> None:
        for direction, link in self.links.items():
            self._toxics.links[direction].add(link)
            link.start()
        self._client.attach(reader=self.links["upstream"], writer=self.links["downstream"])
        self._upstream.attach(reader=self.links["downstream"], writer=self.links["upstream"])

    def _link_ended(self, link: Link) -> None:
        if all(each.done for each in self.links.values()) and not self.closed:
            self.closed = True
            for direction, each in self.links.items():
                self._toxics.links[direction].discard(each)
            self._on_closed(self)

    def close(self) -> None:
        """Close both sockets now (proxy disabled, deleted or replaced)."""
        for link in self.links.values():
            link.abort()
        # A peer that stopped reading must not keep a disabled proxy's connection alive.
        self._client.abort()
        self._upstream.abort()

    def tasks(self) -> list[asyncio.Task[None]]:
        return [task for link in self.links.values() for task in link.tasks()]
