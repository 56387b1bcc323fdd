"""Run a reference app under uvicorn on 127.0.0.1, with a log line per start and stop."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from typing import NoReturn

import uvicorn
from starlette.types import ASGIApp


def exit_promptly(code: int) -> NoReturn:
    """Exit once the service has stopped (its workers gone, its files removed, its sockets closed):
    the interpreter's teardown of every module it imported, about 70 ms of CPU, would only delay
    the exit its supervisor waits for. The logs are flushed first; nothing else runs at exit."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def configure_logging(name: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"%(asctime)s {name} %(levelname)s %(message)s")


POLL = 0.01  # seconds; uvicorn polls every 0.1 s, and a reference's shutdown is part of every scenario


class PromptServer(uvicorn.Server):
    """uvicorn, noticing a request to exit and the end of the last response within 10 ms rather
    than at its 0.1 s ticks (and without its fixed 0.1 s pause), with the same graceful shutdown:
    stop accepting, let responses in flight finish within timeout_graceful_shutdown, then cancel."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 8_640_000
            await asyncio.sleep(POLL)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        try:
            await asyncio.wait_for(self._drained(), timeout=self.config.timeout_graceful_shutdown)
        except TimeoutError:
            for task in self.server_state.tasks:
                task.cancel(msg="graceful shutdown budget exceeded")
        for server in self.servers:
            await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def _drained(self) -> None:
        while (self.server_state.connections or self.server_state.tasks) and not self.force_exit:
            await asyncio.sleep(POLL)


def serve(app: ASGIApp, host: str, port: int, shutdown_budget: float) -> None:
    """`shutdown_budget`: real seconds after SIGTERM before open requests are cut, so a hung
    upstream cannot hold the exit past the cleanup timeout."""
    PromptServer(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=shutdown_budget)).run()
