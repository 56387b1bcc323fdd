"""Which upstream failures are worth another attempt (seed 004 Key Concepts, SDK consensus).

    retry:  408 409 429 500 502 503 504 529, connection refused / reset / connect timeout
    never:  400 401 403 404 413 422 and every other 4xx
    context: an attempt that outlived the upstream timeout (the deadline), or a client that left
`x-should-retry: true|false` from the upstream overrides the status rule either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
# Where a connection failed: reaching the provider, after the request went out but before any
# answer (a reset), or in the middle of a streamed answer.
CONNECT, BEFORE_RESPONSE, MID_STREAM = "connect", "before response", "mid-stream"


class Category(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    CONTEXT = "context"
    RESOURCE = "resource"


@dataclass(frozen=True)
class Classification:
    category: Category
    retryable: bool


class Classifier:
    def status(self, status: int, headers: Mapping[str, str]) -> Classification:
        override = headers.get("x-should-retry", "").strip().lower()
        transient = status in RETRYABLE_STATUSES or (status >= 500 and status != 501)
        category = Category.TRANSIENT if transient else Category.PERMANENT
        if override in ("true", "false"):
            return Classification(category, override == "true")
        return Classification(category, transient)

    def connection_failure(self, phase: str = CONNECT) -> Classification:
        """Refused, reset or broken connections are transient wherever they happen."""
        return Classification(Category.TRANSIENT, True)

    def provider_error(self, retryable: bool) -> Classification:
        """An error event inside an already started stream (e.g. Anthropic overloaded_error)."""
        return Classification(Category.TRANSIENT if retryable else Category.PERMANENT, retryable)

    def deadline(self) -> Classification:
        return Classification(Category.CONTEXT, False)

    def counts_against_breaker(self, status: int | None, classification: Classification) -> bool:
        """Client errors (4xx but 408/429) and the client's own deadline say nothing about upstream health."""
        if classification.category is Category.CONTEXT:
            return False
        return status is None or not (400 <= status < 500) or status in (408, 429)
