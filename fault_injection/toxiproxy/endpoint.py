"""One socket of a proxied connection, as an asyncio protocol.

Bytes are handed to the link that reads this socket straight from `data_received`, with no
task switch, so an untoxic link costs one `transport.write` per chunk. Back-pressure is
explicit: a link pauses its source while its destination or its first toxic is full.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Protocol

LINGER_RESET = struct.pack("ii", 1, 0)
WRITE_HIGH_WATER = 1024 * 1024
# asyncio reads at most 256 KiB per wake-up; bulk transfers need fewer wake-ups with more.
READ_SIZE = 1024 * 1024


class LinkSide(Protocol):
    def feed(self, data: bytes | None) -> None: ...

    def writable(self, ready: bool) -> None: ...


class Endpoint(asyncio.Protocol):
    def __init__(self, on_connected: Callable[[Endpoint], None] | None = None) -> None:
        self._on_connected = on_connected
        self.transport: asyncio.Transport | None = None
        self._reader: LinkSide | None = None  # the link reading this socket
        self._writer: LinkSide | None = None  # the link writing to it, told about pauses
        self._early: list[bytes | None] = []
        self._eof = False
        self.lost = False
        self.peer = "?"
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._read_pauses: set[str] = set()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        if hasattr(transport, "max_size"):
            transport.max_size = READ_SIZE
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.pause_reading("unattached")
        if self._on_connected is not None:
            self._on_connected(self)

    def data_received(self, data: bytes) -> None:
        if self._reader is not None:
            self._reader.feed(data)
        else:
            self._early.append(data)

    def eof_received(self) -> bool:
        self._end_of_input()
        return True  # keep the socket: the other direction may still write to it

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._end_of_input()
        self._wake_drainers()

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._writer is not None:
            self._writer.writable(False)

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_drainers()
        if self._writer is not None:
            self._writer.writable(True)

    # For links.

    def attach(self, reader: LinkSide, writer: LinkSide) -> None:
        self._reader, self._writer = reader, writer
        early, self._early = self._early, []
        for data in early:
            reader.feed(data)
        self.resume_reading("unattached")

    def pause_reading(self, reason: str) -> None:
        if not self._read_pauses and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        self._read_pauses.add(reason)

    def resume_reading(self, reason: str) -> None:
        if reason not in self._read_pauses:
            return
        self._read_pauses.discard(reason)
        if not self._read_pauses and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        if not self._write_paused or self.lost:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        await waiter

    def set_linger_reset(self) -> None:
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)

    def close(self) -> None:
        """Close after what is already queued has been written (FIN, or RST under SO_LINGER 0)."""
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Close now, dropping anything not yet handed to the kernel."""
        if self.transport is not None:
            self.transport.abort()

    def _end_of_input(self) -> None:
        if self._eof:
            return
        self._eof = True
        if self._reader is not None:
            self._reader.feed(None)
        else:
            self._early.append(None)

    def _wake_drainers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
