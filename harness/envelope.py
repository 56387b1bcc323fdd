"""Checks an error response against the envelope and the closed vocabulary (DESIGN §2)."""

from __future__ import annotations

import math
from typing import Any, cast

from catalogue import Vocabulary
from harness.exchange import Exchange

RETRY_AFTER_STATUSES = (429, 503)


def envelope_problems(exchange: Exchange, vocabulary: Vocabulary) -> list[str]:
    """Everything wrong with `exchange` as an error envelope; empty when it conforms."""
    return envelope_shape_problems(exchange, vocabulary) + code_answer_problems(exchange, vocabulary)


def envelope_shape_problems(exchange: Exchange, vocabulary: Vocabulary) -> list[str]:
    """What is wrong with the envelope's structure: JSON, an error object with its four fields,
    details an object, a correlation id, a code of the closed vocabulary."""
    try:
        body: Any = exchange.json()
    except ValueError:
        return [f"body is not JSON: {exchange.text[:200]!r}"]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return [f"body has no 'error' object: {exchange.text[:200]!r}"]
    problems = [f"error.{key} is missing" for key in ("code", "message", "details", "correlation_id")
                if key not in error]
    if not isinstance(error.get("details"), dict):
        return problems + ["error.details is not an object"]
    if not error.get("correlation_id"):
        problems.append("error.correlation_id is empty")
    if error.get("code") not in vocabulary:
        problems.append(f"error.code {error.get('code')!r} is not in the closed vocabulary")
    return problems


def code_answer_problems(exchange: Exchange, vocabulary: Vocabulary) -> list[str]:
    """What the code an envelope carries requires of the answer and it lacks: the code's HTTP
    status, the details the code requires, and for a 429 or 503 the Retry-After (nothing to say
    of an answer whose code cannot be read: its shape is what is wrong)."""
    try:
        body: Any = exchange.json()
    except ValueError:
        return []
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or error.get("code") not in vocabulary:
        return []
    code, details = cast(str, error["code"]), error.get("details")
    details = details if isinstance(details, dict) else {}
    entry = vocabulary[code]
    problems = []
    if entry.status != exchange.status:
        problems.append(f"{code} must be sent with HTTP {entry.status}, got {exchange.status}")
    problems += [f"details.{key} is missing (required for {code})"
                 for key in entry.required_details if key not in details]
    if exchange.status in RETRY_AFTER_STATUSES:
        problems += retry_after_problems(exchange, details)
    return problems


def retry_after_problems(exchange: Exchange, details: dict[str, Any]) -> list[str]:
    """A 429 or 503 says when to retry twice, and both must agree: a Retry-After header of whole
    seconds, at least one, and details.retry_after_seconds, which the header rounds up."""
    header = next((v for k, v in exchange.headers.items() if k.lower() == "retry-after"), None)
    seconds = details.get("retry_after_seconds")
    problems = []
    if header is None:
        problems.append(f"HTTP {exchange.status} without a Retry-After header")
    elif not header.strip().isdigit() or int(header) < 1:
        problems.append(f"Retry-After {header!r} is not a positive whole number of seconds")
    if seconds is None:
        problems.append(f"HTTP {exchange.status} without details.retry_after_seconds")
    elif not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        problems.append(f"details.retry_after_seconds {seconds!r} is not a number of seconds")
    elif not problems and int(header or 0) != max(1, math.ceil(seconds)):
        problems.append(f"Retry-After {header} does not agree with details.retry_after_seconds {seconds} "
                        f"(rounded up: {max(1, math.ceil(seconds))})")
    return problems


def error_field(exchange: Exchange, key: str) -> Any:
    """`error.<key>` of the answer, or None when the answer has no such field (a check that wants
    it then fails saying so, rather than crashing on a body that is not an envelope)."""
    try:
        error = exchange.json()["error"]
    except (ValueError, KeyError, TypeError):
        return None
    return error.get(key) if isinstance(error, dict) else None


def error_code(exchange: Exchange) -> str | None:
    try:
        return str(exchange.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None
