"""Starlette plumbing shared by both references: correlation ids and errors as envelopes."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference.common.errors import ServiceError

log = logging.getLogger("reference")
CORRELATION_HEADER = "x-correlation-id"
T = TypeVar("T")


class CorrelationIdMiddleware:
    """Gives every request a correlation id (the caller's, if sane) and echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(CORRELATION_HEADER.encode(), b"").decode("latin-1")
        correlation_id = given if given.replace("-", "").isalnum() and len(given) <= 64 else uuid.uuid4().hex
        scope.setdefault("state", {})["correlation_id"] = correlation_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != CORRELATION_HEADER.encode()]
                headers.append((CORRELATION_HEADER.encode(), correlation_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def correlation_id(request: Request) -> str:
    return str(getattr(request.state, "correlation_id", "") or uuid.uuid4().hex)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None (with `work` cancelled) if the client hangs up first. Call it once
    the body is read: from then on the server's next message for this request is the disconnect."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return None if task.cancelled() else task.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def too_large(limit: int) -> ServiceError:
    return ServiceError("PAYLOAD_TOO_LARGE", f"request body exceeds {limit} bytes",
                        {"max_bytes": limit, "suggested_action": "Send a smaller request"})


Render = Callable[[ServiceError, str], Response]
Handler = Callable[[Request, Exception], Awaitable[Response]]


def _default_render(error: ServiceError, cid: str) -> Response:
    return error.response(cid)


def _as_service_error(request: Request, exc: Exception) -> ServiceError:
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, HTTPException) and exc.status_code == 404:
        return ServiceError("NOT_FOUND", f"no route {request.method} {request.url.path}",
                            {"suggested_action": "Check the path against the API reference"})
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return ServiceError("METHOD_NOT_ALLOWED", f"{request.method} is not allowed on this path",
                            {"suggested_action": "Use one of the allowed methods",
                             "allowed_methods": (exc.headers or {}).get("Allow", "")})
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return ServiceError("VALIDATION_ERROR", "bad request",
                            {"suggested_action": "Fix the request", "fields": {}})
    # Never echo the exception text: it may carry request content or secrets.
    log.error("unhandled error on %s %s: %s", request.method, request.url.path, type(exc).__name__,
              exc_info=exc)
    return ServiceError("INTERNAL_ERROR", "internal error; see the service log with this correlation id",
                        {"suggested_action": "Retry later; report the correlation id if it persists"})


def exception_handlers(render: Render = _default_render) -> dict[Any, Handler]:
    """Every error, expected or not, leaves as an envelope drawn by `render`."""

    async def handle(request: Request, exc: Exception) -> Response:
        return render(_as_service_error(request, exc), correlation_id(request))

    return {ServiceError: handle, HTTPException: handle, Exception: handle}
