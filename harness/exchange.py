"""One HTTP exchange with a system under test, recorded as the client saw it."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Exchange:
    method: str
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    sent_at: float           # time.monotonic() when the request left
    elapsed: float           # seconds until the whole body arrived

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def describe(self) -> str:
        snippet = self.text[:400]
        return f"{self.method} {self.url} -> {self.status} {snippet!r}"


def send(method: str, url: str, *, json_body: Any = None, content: bytes | None = None,
         headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> Exchange:
    sent_at = time.monotonic()
    with httpx.Client(timeout=timeout) as client:
        response = client.request(method, url, json=json_body, content=content, headers=headers)
    return Exchange(method, url, response.status_code, dict(response.headers), response.content,
                    sent_at, time.monotonic() - sent_at)
