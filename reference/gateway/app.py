"""The reference gateway's HTTP surface: OpenAI-compatible chat completions, health, metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.common.http import CorrelationIdMiddleware, correlation_id, exception_handlers, read_body
from reference.gateway import render
from reference.gateway.classify import Category
from reference.gateway.config import GatewayConfig, parse_config
from reference.gateway.components import Components
from reference.gateway.engine import Committed, Engine
from reference.gateway.metrics import GatewayMetrics
from reference.gateway.outcome import stream_failure_error
from reference.gateway.upstream import AttemptFailed, UpstreamCall
from reference.gateway.validation import parse_chat_request
from reference.gateway.wire.events import ChatRequest, Event, Transcript

log = logging.getLogger("reference.gateway")


class Gateway:
    def __init__(self, config: GatewayConfig, clock: ScaledClock, parts: Components) -> None:
        self.config, self.clock, self.parts = config, clock, parts
        self.metrics = GatewayMetrics()
        self.metrics.start_at_zero([p.name for p in config.providers])
        self.engine = Engine(config, clock, self.metrics, parts)
        self.limiter = parts.limiter(config.limits)
        self.auth = parts.authenticator(config.api_token)
        self._abandoned: list[asyncio.Task[None]] = []  # only ever filled by a defect

    async def chat_completions(self, request: Request) -> Response:
        self.auth.check(request.headers.get("authorization", ""))
        chat = parse_chat_request(await read_body(request, self.config.limits.max_body_bytes))
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
        finished = False
        try:
            while True:
                try:
                    async for event in self._events(committed):
                        data = render.chunk(cid, chat.model, event, first=not delivered.has_content)
                        if data is not None:
                            delivered.add(event)
                            yield data
                    break
                except AttemptFailed as failure:
                    self.metrics.streaming_errors.labels(str(failure.classification.category)).inc()
                    log.warning("stream from provider=%s failed after commit: %s correlation_id=%s",
                                committed.provider, failure.reason, cid)
                    committed.settle(None if failure.classification.category is Category.CONTEXT else False)
                    await committed.call.close()
                    if self.parts.retry_after_commit:
                        committed = await self.engine.start_stream(chat, cid)
                        continue
                    yield render.sse(stream_failure_error(failure, committed.provider, delivered).envelope(cid))
                    finished = True
                    return
            outcome = True
            committed.settle(True)
            yield render.DONE
            finished = True
        finally:
            if not finished:
                committed.settle(None)  # the client left: says nothing about the provider
            if finished or self.parts.close_upstream_on_disconnect:
                await committed.call.close()
            await slot.aclose()
            self._observe("ok" if outcome else "error", committed.provider, started)

    async def _events(self, committed: Committed) -> AsyncIterator[Event]:
        for event in committed.buffered:
            yield event
        if self.parts.close_upstream_on_disconnect:
            async for event in committed.call.events():
                yield event
            return
        # The defect's shape: a reader task decoupled from the client, which nobody cancels.
        queue: asyncio.Queue[Event | AttemptFailed | None] = asyncio.Queue()
        self._abandoned.append(asyncio.create_task(_pump(committed.call, queue)))
        while (item := await queue.get()) is not None:
            if isinstance(item, AttemptFailed):
                raise item
            yield item

    def _observe(self, outcome: str, provider: str, started: float) -> None:
        self.metrics.request_duration.labels(provider, outcome).observe((time.monotonic() - started) * 1000)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def metrics_page(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4")


def build_app(raw_config: dict[str, Any], time_scale: float, parts: Components | None = None) -> Starlette:
    parts = parts or Components()
    gateway = Gateway(parts.configure(parse_config(raw_config)), ScaledClock(time_scale), parts)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Built before the first request, inside the server's loop: loading its TLS context takes
        # about 0.1 s, which would otherwise delay the first call and eat into its timeouts.
        _ = gateway.engine.client
        yield

    return Starlette(routes=[Route("/health", gateway.health, methods=["GET"]),
                             Route("/metrics", gateway.metrics_page, methods=["GET"]),
                             Route("/v1/chat/completions", gateway.chat_completions, methods=["POST"])],
                     middleware=[Middleware(CorrelationIdMiddleware)],
                     exception_handlers=exception_handlers(parts.render_error), lifespan=lifespan)


async def _pump(call: UpstreamCall, queue: asyncio.Queue[Event | AttemptFailed | None]) -> None:
    try:
        async for event in call.events():
            await queue.put(event)
    except AttemptFailed as failure:
        await queue.put(failure)
    await queue.put(None)
