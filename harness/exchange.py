"""One HTTP exchange with a system under test, recorded as the client saw it."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from harness.patience import NoAnswer, Patience, client_patience
from harness.http_client import http_client


@dataclass(frozen=True)
class Exchange:
    method: str
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    sent_at: float           # time.monotonic() when the request left
    elapsed: float           # seconds until the whole body arrived
    request: bytes = b""     # the body the client sent, for checks that nothing echoes or logs it

    @property
    def answered_at(self) -> float:
        """time.monotonic() when the whole answer had arrived."""
        return self.sent_at + self.elapsed

    @property
    def span(self) -> tuple[float, float]:
        """When it was out: what a stall of the harness's event loop must overlap to have lengthened it."""
        return self.sent_at, self.answered_at

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def describe(self) -> str:
        snippet = self.text[:400]
        return f"{self.method} {self.url} -> {self.status} {snippet!r}"


def send(method: str, url: str, *, json_body: Any = None, content: bytes | None = None,
         headers: Mapping[str, str] | None = None, timeout: float | None = None,
         client: httpx.Client | None = None) -> Exchange:
    """One request, on `client` when given (a request that must leave at a chosen instant: making
    a client loads the CA bundle, tens of milliseconds), else on a client of its own that waits
    `timeout` s, or the scenario's client patience (harness.patience)."""
    if json_body is not None:
        content = json.dumps(json_body).encode()
        headers = {"content-type": "application/json", **(headers or {})}
    if client is not None:
        return exchange_of(client, method, url, content, headers)
    with http_client(client_patience().seconds if timeout is None else timeout) as own:
        return exchange_of(own, method, url, content, headers)


def exchange_of(client: httpx.Client, method: str, url: str, content: bytes | None,
                headers: Mapping[str, str] | None) -> Exchange:
    """One request on an existing client (many requests can share its connection)."""
    sent_at = time.monotonic()
    try:
        response = client.request(method, url, content=content, headers=headers)
    except httpx.TimeoutException:
        waited = client.timeout.read
        raise NoAnswer(f"{method} {url}", client_patience() if waited == client_patience().seconds
                       else Patience(waited or 0.0, "the step's own limit")) from None
    return Exchange(method, url, response.status_code, dict(response.headers), response.content,
                    sent_at, time.monotonic() - sent_at, content or b"")
