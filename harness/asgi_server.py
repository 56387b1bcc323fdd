"""Serve an ASGI app on the current event loop, on a port the OS picks."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass
class ServedApp:
    host: str
    port: int
    server: uvicorn.Server
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        # Open streams would keep a graceful shutdown waiting; the fakes never need one.
        self.server.force_exit = True
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
    settings: dict[str, Any] = {"log_level": "warning", "lifespan": "off", "access_log": False}
    settings.update(config)
    server = uvicorn.Server(uvicorn.Config(app, **settings))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    return ServedApp(host, sock.getsockname()[1], server, task)
