"""Checks an error response against the envelope and the closed vocabulary (DESIGN §2)."""

from __future__ import annotations

from typing import Any, cast

from catalogue import Vocabulary
from harness.exchange import Exchange

RETRY_AFTER_STATUSES = (429, 503)


def envelope_problems(exchange: Exchange, vocabulary: Vocabulary) -> list[str]:
    """Everything wrong with `exchange` as an error envelope; empty when it conforms."""
    try:
        body: Any = exchange.json()
    except ValueError:
        return [f"body is not JSON: {exchange.text[:200]!r}"]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return [f"body has no 'error' object: {exchange.text[:200]!r}"]
    problems = [f"error.{key} is missing" for key in ("code", "message", "details", "correlation_id")
                if key not in error]
    code, details = error.get("code"), error.get("details")
    if not isinstance(details, dict):
        return problems + ["error.details is not an object"]
    if not error.get("correlation_id"):
        problems.append("error.correlation_id is empty")
    if code not in vocabulary:
        return problems + [f"error.code {code!r} is not in the closed vocabulary"]
    entry = vocabulary[cast(str, code)]  # in the vocabulary, so one of its str codes
    if entry.status != exchange.status:
        problems.append(f"{code} must be sent with HTTP {entry.status}, got {exchange.status}")
    problems += [f"details.{key} is missing (required for {code})"
                 for key in entry.required_details if key not in details]
    if exchange.status in RETRY_AFTER_STATUSES:
        if "retry-after" not in {k.lower() for k in exchange.headers}:
            problems.append(f"HTTP {exchange.status} without a Retry-After header")
        if "retry_after_seconds" not in details:
            problems.append(f"HTTP {exchange.status} without details.retry_after_seconds")
    return problems


def error_code(exchange: Exchange) -> str | None:
    try:
        return str(exchange.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None
