"""The embedded Toxiproxy-compatible server: REST API plus proxies, on the running loop."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import TYPE_CHECKING, Any


from fault_injection.toxiproxy.api import build_app
from fault_injection.toxiproxy.proxy import Proxy
from fault_injection.toxiproxy.registry import ProxyRegistry, ProxySpec
from harness.asgi_server import ServedApp, serve_on_socket
from harness.history import EventKind

if TYPE_CHECKING:
    from harness.history import Recorder

_EVENTS = {
    "open": EventKind.CONNECTION_OPEN,
    "close": EventKind.CONNECTION_CLOSE,
    "toxic_added": EventKind.FAULT_APPLIED,
    "toxic_updated": EventKind.FAULT_APPLIED,
    "toxic_removed": EventKind.FAULT_REMOVED,
    "disabled": EventKind.FAULT_APPLIED,
    "enabled": EventKind.FAULT_REMOVED,
    "dial_failed": EventKind.NOTE,
}


class ProxyServer:
    """`await start()` on any running loop (a `BackgroundLoop` from sync code), `await stop()`.

    `seed` makes toxicity rolls, jitter and slicing repeatable: each connection draws from a
    generator derived from the seed, the proxy name and the connection's ordinal.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int | None = None,
                 recorder: Recorder | None = None) -> None:
        self.host = host
        self.port = port
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(8), "big")
        self._recorder = recorder
        self.registry = ProxyRegistry(self._make_proxy)
        self._served: ServedApp | None = None

    @property
    def url(self) -> str:
        if self._served is None:
            raise RuntimeError("the proxy server is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._served.port}"

    async def start(self) -> None:
        self._served = await _serve(build_app(self.registry), self.host, self.port)

    async def stop(self) -> None:
        await self.registry.clear()
        served, self._served = self._served, None
        if served is not None:
            await served.stop()

    async def populate(self, body: object) -> list[Proxy]:
        """Load a `/populate` body (the `-config` file) before or while serving."""
        return await self.registry.populate(body)

    def _make_proxy(self, spec: ProxySpec) -> Proxy:
        return Proxy(spec.name, spec.listen, spec.upstream, str(self.seed), self._on_event)

    def _on_event(self, what: str, proxy: Proxy, data: dict[str, Any]) -> None:
        if self._recorder is None:
            return
        kind = _EVENTS[what]
        if what in ("disabled", "enabled"):
            data = {"fault": "down", "name": proxy.name, "type": "down"}
        elif what.startswith("toxic_"):
            data = {**data, "change": what.removeprefix("toxic_")}
        else:
            data = {**data, "event": what} if what == "dial_failed" else data
        self._recorder.record(kind, f"proxy:{proxy.name}", **data)


async def _serve(app: Any, host: str, port: int) -> ServedApp:
    """Like `harness.asgi_server.serve_app`, but the listening socket is made from getaddrinfo.

    A socket created with protocol 0 makes asyncio skip TCP_NODELAY on accepted connections,
    and uvicorn's separate header and body writes then wait ~40 ms for a delayed ACK on every
    keep-alive request.
    """
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    # IPv4 first: clients given "localhost" try 127.0.0.1 before ::1.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return await serve_on_socket(app, sock)
