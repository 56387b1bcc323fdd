"""The reference gateway's HTTP surface: OpenAI-compatible chat completions, health, metrics."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.common.http import EXCEPTION_HANDLERS, CorrelationIdMiddleware, correlation_id
from reference.gateway import render
from reference.gateway.classify import Category
from reference.gateway.config import GatewayConfig, parse_config
from reference.gateway.engine import Committed, Components, Engine
from reference.gateway.limiter import ConcurrencyLimiter
from reference.gateway.metrics import GatewayMetrics
from reference.gateway.outcome import stream_failure_error
from reference.gateway.upstream import AttemptFailed
from reference.gateway.validation import parse_chat_request, too_large
from reference.gateway.wire.events import ChatRequest, Transcript

log = logging.getLogger("reference.gateway")


class Gateway:
    def __init__(self, config: GatewayConfig, clock: ScaledClock, components: Components | None = None,
                 limiter: ConcurrencyLimiter | None = None) -> None:
        self.config, self.clock = config, clock
        self.metrics = GatewayMetrics()
        self.engine = Engine(config, clock, self.metrics, components)
        self.limiter = limiter or ConcurrencyLimiter(config.limits)

    def authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            raise ServiceError("UNAUTHORIZED", "a bearer token is required",
                               {"suggested_action": "Send 'Authorization: Bearer <token>'"},
                               headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(header[7:].strip().encode(), self.config.api_token.encode()):
            raise ServiceError("FORBIDDEN", "the bearer token is not valid for this gateway",
                               {"suggested_action": "Check the token you were given"})

    async def read_body(self, request: Request) -> bytes:
        limit = self.config.limits.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large(limit)
        body = bytearray()
        async for piece in request.stream():
            body += piece
            if len(body) > limit:
                raise too_large(limit)
        return bytes(body)

    async def chat_completions(self, request: Request) -> Response:
        self.authenticate(request)
        chat = parse_chat_request(await self.read_body(request))
        cid = correlation_id(request)
        started = time.monotonic()
        slot = AsyncExitStack()
        await slot.enter_async_context(self.limiter.slot())
        try:
            if not chat.stream:
                try:
                    provider, transcript = await self.engine.complete(chat, cid)
                except ServiceError:
                    self._observe("error", "none", started)
                    raise
                self._observe("ok", provider, started)
                return JSONResponse(render.completion(cid, chat.model, transcript),
                                    headers={"X-Correlation-ID": cid})
            committed = await self.engine.start_stream(chat, cid)
        except BaseException:
            await slot.aclose()
            raise
        return StreamingResponse(self._stream(committed, chat, cid, slot, started),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Correlation-ID": cid})

    async def _stream(self, committed: Committed, chat: ChatRequest, cid: str, slot: AsyncExitStack,
                      started: float) -> AsyncIterator[bytes]:
        delivered = Transcript()
        outcome: bool | None = None
        first = True
        try:
            for event in committed.buffered:
                data = render.chunk(cid, chat.model, event, first)
                if data is not None:
                    first = False
                    delivered.add(event)
                    yield data
            try:
                async for event in committed.call.events():
                    data = render.chunk(cid, chat.model, event, first)
                    if data is not None:
                        first = False
                        delivered.add(event)
                        yield data
            except AttemptFailed as failure:
                outcome = None if failure.classification.category is Category.CONTEXT else False
                self.metrics.streaming_errors.labels(str(failure.classification.category)).inc()
                log.warning("stream from provider=%s failed after commit: %s correlation_id=%s",
                            committed.provider, failure.reason, cid)
                error = stream_failure_error(failure, committed.provider, delivered)
                yield render.sse(error.envelope(cid))
                return
            outcome = True
            yield render.DONE
        finally:
            committed.settle(outcome)
            await committed.call.close()
            await slot.aclose()
            self._observe("ok" if outcome else "error", committed.provider, started)

    def _observe(self, outcome: str, provider: str, started: float) -> None:
        self.metrics.request_duration.labels(provider, outcome).observe((time.monotonic() - started) * 1000)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics_page(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4")


def build_app(raw_config: dict[str, Any], time_scale: float, components: Components | None = None) -> Starlette:
    gateway = Gateway(parse_config(raw_config), ScaledClock(time_scale), components)
    return Starlette(routes=[Route("/health", gateway.health, methods=["GET"]),
                             Route("/metrics", gateway.metrics_page, methods=["GET"]),
                             Route("/v1/chat/completions", gateway.chat_completions, methods=["POST"])],
                     middleware=[Middleware(CorrelationIdMiddleware)],
                     exception_handlers=EXCEPTION_HANDLERS)
