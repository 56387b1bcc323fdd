"""Every TCP connection a fake accepts, recorded as it opens and closes.

uvicorn takes its HTTP protocol class from `Config(http=...)`; a per-server subclass of its h11
protocol reports `connection_made` / `connection_lost` here. h11 is chosen explicitly so the
hooks do not depend on whether httptools happens to be installed. The tracker also hands the
application the transport of a request's connection, which ASGI does not expose, so a script
can cut or reset the connection mid-body.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from harness.history import EventKind, Recorder

Peer = tuple[str, int]


@dataclass
class _Connection:
    id: int
    transport: asyncio.Transport
    # What the connection carried: a client's attempts, and/or the implementation's own requests.
    # One that carried only its own (a model listing kept in a separate pool) is not the clauses'.
    attempts: int = 0
    own_requests: int = 0
    last_answered: bool = False    # its last attempt got its whole answer: reusable, neither broken nor stalled

    @property
    def own_only(self) -> bool:
        return self.own_requests > 0 and self.attempts == 0

    @property
    def idle(self) -> bool:
        """Kept alive after a complete answer, as an HTTP client's pool keeps a connection."""
        return self.attempts > 0 and self.last_answered


class ConnectionTracker:
    def __init__(self, recorder: Recorder, source: str) -> None:
        self._recorder = recorder
        self._source = source
        self._lock = threading.Lock()
        self._open: dict[Peer, _Connection] = {}
        self._next_id = 1
        self.total = 0

    def opened(self, transport: asyncio.Transport) -> None:
        peer = _peer(transport)
        with self._lock:
            connection = _Connection(self._next_id, transport)
            self._next_id += 1
            self._open[peer] = connection
            self.total += 1
        self._recorder.record(EventKind.CONNECTION_OPEN, self._source, connection=connection.id,
                              peer_port=peer[1])

    def closed(self, transport: asyncio.Transport, exc: Exception | None) -> None:
        peer = _peer(transport)
        with self._lock:
            connection = self._open.get(peer)
            if connection is None:
                return
            # Recorded before the count drops: a step that sees the count fall finds the close in
            # the history it then judges from.
            self._recorder.record(EventKind.CONNECTION_CLOSE, self._source, connection=connection.id,
                                  peer_port=peer[1], error=None if exc is None else repr(exc))
            del self._open[peer]

    def count(self) -> int:
        with self._lock:
            return len(self._open)

    def count_for_calls(self) -> int:
        """Open connections but those that carried only the implementation's own requests."""
        with self._lock:
            return sum(1 for c in self._open.values() if not c.own_only)

    def count_own_only(self) -> int:
        with self._lock:
            return sum(1 for c in self._open.values() if c.own_only)

    def count_idle(self) -> int:
        with self._lock:
            return sum(1 for c in self._open.values() if c.idle)

    def carried(self, peer: Peer | None, *, attempt: bool) -> None:
        """Note that the connection of `peer` carried an attempt, or one of the implementation's own requests."""
        with self._lock:
            connection = self._open.get(peer) if peer else None
            if connection is not None:
                if attempt:
                    connection.attempts += 1
                    connection.last_answered = False
                else:
                    connection.own_requests += 1

    def answered(self, peer: Peer | None, *, complete: bool) -> None:
        """Note how the attempt on the connection of `peer` ended: its whole answer sent, or not."""
        with self._lock:
            connection = self._open.get(peer) if peer else None
            if connection is not None:
                connection.last_answered = complete

    def connection_id(self, peer: Peer | None) -> int | None:
        with self._lock:
            connection = self._open.get(peer) if peer else None
        return connection.id if connection else None

    def transport_for(self, peer: Peer | None) -> asyncio.Transport | None:
        with self._lock:
            connection = self._open.get(peer) if peer else None
        return connection.transport if connection else None

    def abort_all(self) -> None:
        with self._lock:
            transports = [c.transport for c in self._open.values()]
        for transport in transports:
            transport.abort()


def close_transport(transport: asyncio.Transport, *, reset: bool) -> None:
    """FIN after the buffered bytes, or RST at once (SO_LINGER 0), as a peer crash would."""
    if not reset:
        transport.close()
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def tracking_protocol(tracker: ConnectionTracker) -> type[H11Protocol]:
    """An h11 protocol class bound to `tracker`, for `uvicorn.Config(http=...)`."""

    class TrackingH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            tracker.opened(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            tracker.closed(self.transport, exc)
            super().connection_lost(exc)

    return TrackingH11Protocol


def _peer(transport: asyncio.Transport) -> Peer:
    peername = transport.get_extra_info("peername")
    return (str(peername[0]), int(peername[1])) if peername else ("?", 0)
