"""The error envelope both references answer with, built from the closed vocabulary.

    {"error": {"code": "...", "message": "...", "details": {...}, "correlation_id": "..."}}

A ServiceError names a vocabulary code; its HTTP status, and the detail keys it must carry, come
from catalogue/error_codes.yaml, so a reference cannot drift from the vocabulary the suite checks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from catalogue import vocabulary

RETRY_AFTER_STATUSES = (429, 503)


class ServiceError(Exception):
    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        entry = vocabulary()[code]  # KeyError here is a programming error: not in the vocabulary
        self.code, self.message, self.status = code, message, entry.status
        self.details = dict(details or {})
        missing = [key for key in entry.required_details if key not in self.details]
        if missing:
            raise ValueError(f"{code} needs details {missing}")
        self.headers = dict(headers or {})
        super().__init__(f"{code}: {message}")

    def envelope(self, correlation_id: str) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details,
                          "correlation_id": correlation_id}}

    def response(self, correlation_id: str) -> JSONResponse:
        headers = {"X-Correlation-ID": correlation_id, **self.headers}
        retry_after = self.details.get("retry_after_seconds")
        if self.status in RETRY_AFTER_STATUSES and retry_after is not None:
            headers.setdefault("Retry-After", str(max(1, math.ceil(float(retry_after)))))
        return JSONResponse(self.envelope(correlation_id), status_code=self.status, headers=headers)
