"""Serve an ASGI app on the current event loop, on a port the OS picks."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

import uvicorn


class PromptServer(uvicorn.Server):
    """Exits as soon as asked instead of at uvicorn's next 0.1 s tick: every scenario stops
    several fakes, and those ticks added up to a noticeable share of the suite's run time."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_requested = asyncio.Event()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            try:
                await asyncio.wait_for(self.exit_requested.wait(), 0.1)
            except TimeoutError:
                pass

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown less its fixed 0.1 s grace for responses in flight: a fake's
        connections are aborted on stop, so there is nothing to wait for but the listeners."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        for server in self.servers:
            await server.wait_closed()


@dataclass
class ServedApp:
    host: str
    port: int
    server: PromptServer
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        # Open streams would keep a graceful shutdown waiting; the fakes never need one.
        self.server.force_exit = True
        self.server.exit_requested.set()
        await self.task


async def serve_app(app: Any, host: str = "127.0.0.1", port: int = 0, **config: Any) -> ServedApp:
    """Start `app` under uvicorn on this loop and return once it accepts connections."""
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on sockets that say they are TCP, and
    # without it each keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return await serve_on_socket(app, sock, **config)


async def serve_on_socket(app: Any, sock: socket.socket, **config: Any) -> ServedApp:
    """Start `app` under uvicorn on an already bound, listening, non-blocking socket."""
    settings: dict[str, Any] = {"log_level": "warning", "lifespan": "off", "access_log": False}
    settings.update(config)
    server = PromptServer(uvicorn.Config(app, **settings))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    host, port = sock.getsockname()[:2]
    return ServedApp(str(host), int(port), server, task)
