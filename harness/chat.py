"""Chat requests the harness sends to a gateway, and reading their outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.checks import CannotCheck
from harness.exchange import Exchange

DEFAULT_MODEL = "faultline-test-model"


def chat_body(*, stream: bool = False, content: str = "Say hello", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": content}],
                            "stream": stream}
    body.update(overrides)
    return body


def bearer(token: str, correlation_id: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if correlation_id:
        headers["X-Correlation-ID"] = correlation_id
    return headers


def completion_text(exchange: Exchange) -> str:
    body = exchange.json()
    return "".join((choice.get("message") or {}).get("content") or "" for choice in body.get("choices") or [])


def error_details(exchange: Exchange) -> Mapping[str, Any]:
    """The envelope's details; a check that reads them cannot run when there are none (the
    envelope's own check fails for that)."""
    try:
        details = exchange.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        raise CannotCheck(f"the answer carries no error details to check: {exchange.describe()}") from None
    if not isinstance(details, Mapping):
        raise CannotCheck(f"the answer's error details are not an object: {exchange.describe()}")
    return details
