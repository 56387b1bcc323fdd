"""Socket helpers for the proxy tests: both ends of a proxied connection, and bounded reads."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from types import TracebackType

import httpx

DEFAULT_TIMEOUT = 5.0


class Upstream:
    """A listening socket the test accepts from itself, to see the upstream side of the proxy."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(DEFAULT_TIMEOUT)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]:d}"
        self._accepted: list[socket.socket] = []

    def accept(self) -> socket.socket:
        conn, _ = self.listener.accept()
        conn.settimeout(DEFAULT_TIMEOUT)
        self._accepted.append(conn)
        return conn

    def close(self) -> None:
        for conn in self._accepted:
            conn.close()
        self.listener.close()

    def __enter__(self) -> Upstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EchoServer:
    """An asyncio echo server on the background loop, for round trips through the proxy."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.address = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._echo, "127.0.0.1", 0)
        self.address = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]:d}"

    async def _echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def connect(listen: str, timeout: float = DEFAULT_TIMEOUT) -> socket.socket:
    host, port = listen.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


@contextlib.contextmanager
def connected(listen: str, upstream: Upstream) -> Iterator[tuple[socket.socket, socket.socket]]:
    """A client socket through the proxy and the upstream's side of it; both closed after."""
    client = connect(listen)
    try:
        server = upstream.accept()
        try:
            yield client, server
        finally:
            server.close()
    finally:
        client.close()


def recv_exactly(sock: socket.socket, size: int, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    deadline = time.monotonic() + timeout
    data = b""
    while len(data) < size:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        piece = sock.recv(size - len(data))
        if not piece:
            raise EOFError(f"closed after {len(data)} of {size} bytes")
        data += piece
    return data


def recv_until_closed(sock: socket.socket, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """Everything until EOF; raises TimeoutError if the peer does not close in time."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"still open after {timeout} s ({len(data)} bytes)")
        sock.settimeout(remaining)
        piece = sock.recv(65536)
        if not piece:
            return data
        data += piece


def recv_pieces(sock: socket.socket, total: int, timeout: float = DEFAULT_TIMEOUT) -> list[bytes]:
    """The separate recv() results that make up `total` bytes."""
    deadline = time.monotonic() + timeout
    pieces: list[bytes] = []
    while sum(map(len, pieces)) < total:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        piece = sock.recv(65536)
        if not piece:
            break
        pieces.append(piece)
    return pieces


def assert_silent(sock: socket.socket, for_seconds: float) -> None:
    """Nothing arrives and the connection stays open for `for_seconds`."""
    sock.settimeout(for_seconds)
    with contextlib.suppress(TimeoutError):
        data = sock.recv(65536)
        raise AssertionError(f"expected silence, got {data!r}")


def wait_until(condition: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.005)


def create_proxy(api: httpx.Client, name: str, upstream: str, **extra: object) -> str:
    response = api.post("/proxies", json={"name": name, "upstream": upstream,
                                          "listen": "127.0.0.1:0", **extra})
    assert response.status_code == 201, response.text
    listen: str = response.json()["listen"]
    return listen


def add_toxic(api: httpx.Client, proxy: str, type: str, stream: str = "downstream",
              toxicity: float = 1.0, name: str | None = None, **attributes: int) -> None:
    body: dict[str, object] = {"type": type, "stream": stream, "toxicity": toxicity,
                               "attributes": attributes}
    if name is not None:
        body["name"] = name
    response = api.post(f"/proxies/{proxy}/toxics", json=body)
    assert response.status_code == 200, response.text


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.monotonic()
        self.elapsed = 0.0
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.elapsed = time.monotonic() - self.start
