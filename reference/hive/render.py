"""The client-facing wire format: rbee's SSE events relayed, and a terminal error event."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from reference.common.errors import ServiceError

DONE = b"data: [DONE]\n\n"


def sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def error_event(error: ServiceError, correlation_id: str) -> bytes:
    """rbee's `{"type":"error","code","message"}`, carrying the full envelope under `error`."""
    return sse({"type": "error", "code": error.code, "message": error.message,
                **error.envelope(correlation_id)})


def error_response(error: ServiceError, correlation_id: str) -> Response:
    return error.response(correlation_id)
