"""Fixtures for the proxy tests: the embedded server on a background loop, real sockets."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from fault_injection.toxiproxy import ProxyServer
from harness.history import History
from harness.portal import BackgroundLoop
from tests.proxy.sockets import EchoServer, Upstream


@pytest.fixture(scope="session")
def background() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as loop:
        yield loop


@pytest.fixture(scope="session")
def shared_server(background: BackgroundLoop) -> Iterator[ProxyServer]:
    server = ProxyServer(seed=7)
    background.call(server.start)
    try:
        yield server
    finally:
        background.call(server.stop)


@pytest.fixture
def proxy_server(background: BackgroundLoop, shared_server: ProxyServer) -> Iterator[ProxyServer]:
    """The session's server, emptied after each test (starting uvicorn per test costs ~0.2 s)."""
    try:
        yield shared_server
    finally:
        background.call(shared_server.registry.clear)


@pytest.fixture
def history() -> History:
    return History()


@pytest.fixture
def recorded_server(background: BackgroundLoop, history: History) -> Iterator[ProxyServer]:
    server = ProxyServer(seed=7, recorder=history)
    background.call(server.start)
    try:
        yield server
    finally:
        background.call(server.stop)


@pytest.fixture
def api(proxy_server: ProxyServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy_server.url, timeout=10, trust_env=False) as client:
        yield client


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


@pytest.fixture
def echo(background: BackgroundLoop) -> Iterator[EchoServer]:
    server = EchoServer()
    background.call(server.start)
    try:
        yield server
    finally:
        background.call(server.stop)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
