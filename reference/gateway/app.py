"""The reference gateway's HTTP surface: OpenAI-compatible chat completions, health, metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.common.http import CorrelationIdMiddleware, correlation_id, unless_disconnected
from reference.gateway import render
from reference.gateway.classify import Category
from reference.gateway.config import GatewayConfig, parse_config
from reference.gateway.components import Components
from reference.gateway.engine import Committed, Engine
from reference.gateway.limiter import DISCONNECT, ERROR, OK, TIMEOUT
from reference.gateway.metrics import GatewayMetrics
from reference.gateway.outcome import stream_failure_error
from reference.gateway.upstream import AttemptFailed, UpstreamCall
from reference.gateway.wire.events import ChatRequest, Event, Transcript

log = logging.getLogger("reference.gateway")


class Gateway:
    """The HTTP surface. How a request is read, admitted, answered and streamed is split into
    methods, so a defect overrides one."""

    def __init__(self, config: GatewayConfig, clock: ScaledClock, parts: Components) -> None:
        self.config, self.clock, self.parts = config, clock, parts
        self.metrics, self.engine = self._fresh_state(None)
        self.limiter = parts.limiter(config.limits, clock)
        self.auth = parts.authenticator(config.api_token)
        self.validator = parts.validator()
        self._abandoned: list[asyncio.Task[None]] = []  # only ever filled by a defect

    def _fresh_state(self, client: httpx.AsyncClient | None) -> tuple[GatewayMetrics, Engine]:
        """Metrics at zero and closed breakers. A request keeps the pair it started with, so work
        still in flight across a reset counts in the old state, never in the new one."""
        metrics = self.parts.metrics()
        metrics.start_at_zero([p.name for p in self.config.providers])
        return metrics, (self.parts.engine or Engine)(self.config, self.clock, metrics, self.parts, client)

    async def reset(self, request: Request) -> Response:
        """Back to the start state for the next test scenario: breakers closed, metrics at zero, and
        requests already in flight make no further upstream attempts (they would reach whatever
        listens at a provider's address next)."""
        self.auth.check(request.headers.get("authorization", ""))
        self.engine.retired = True
        self.metrics, self.engine = self._fresh_state(self.engine.client)
        log.info("state reset: breakers closed, metrics at zero (%d request(s) still in flight)",
                 self.limiter.active + self.limiter.waiting)
        return JSONResponse({"in_flight": self.limiter.active + self.limiter.waiting})

    async def chat_completions(self, request: Request) -> Response:
        self.auth.check(request.headers.get("authorization", ""))
        chat = await self.read_chat(request)
        cid = correlation_id(request)
        started = time.monotonic()
        metrics, engine = self.metrics, self.engine
        await self.limiter.acquire()
        if chat.stream:
            return await self.respond_streaming(engine, chat, cid, started)
        try:
            completed = await self._complete(request, engine, chat, cid)
        except BaseException as exc:
            self.limiter.release(ending(exc))
            if isinstance(exc, ServiceError):
                self.observe(metrics, "error", "none", started)
            raise
        if completed is None:  # the client left: its upstream call was cancelled and closed
            self.limiter.release(DISCONNECT)
            self.observe(metrics, "error", "none", started)
            return Response(status_code=499)
        self.limiter.release(OK)
        provider, transcript = completed
        self.observe(metrics, "ok", provider, started)
        return JSONResponse(render.completion(cid, chat.model, transcript), headers={"X-Correlation-ID": cid})

    async def read_chat(self, request: Request) -> ChatRequest:
        """The body within the size limit, validated; it keeps the client's headers, which are
        never forwarded."""
        chat = self.validator.parse(await self.parts.read_body(request, self.config.limits.max_body_bytes))
        return dataclasses.replace(chat, client_headers=tuple(request.headers.items()))

    async def respond_streaming(self, engine: Engine, chat: ChatRequest, cid: str, started: float) -> Response:
        """The response starts only once the first content is in hand: a call that fails before
        answers with its HTTP error, not with 200 and an error event."""
        try:
            committed = await engine.start_stream(chat, cid)
        except BaseException as exc:
            self.limiter.release(ending(exc))
            if isinstance(exc, ServiceError):
                self.observe(engine.metrics, "error", "none", started)
            raise
        return self.stream_response(self._stream(engine, committed, chat, cid, started), cid)

    def stream_response(self, body: AsyncIterator[bytes], cid: str) -> Response:
        """Starlette's streaming response watches for the client leaving while the body waits."""
        return StreamingResponse(body, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Correlation-ID": cid})

    async def _complete(self, request: Request, engine: Engine, chat: ChatRequest,
                        cid: str) -> tuple[str, Transcript] | None:
        """The whole completion, or None when the client hangs up first (the call is cancelled,
        which closes its upstream connection)."""
        if not self.parts.close_upstream_on_disconnect:
            return await engine.complete(chat, cid)
        return await unless_disconnected(request, engine.complete(chat, cid))

    async def _stream(self, engine: Engine, committed: Committed, chat: ChatRequest, cid: str,
                      started: float) -> AsyncIterator[bytes]:
        delivered = Transcript()
        outcome: bool | None = None
        finished = False
        ended = DISCONNECT
        try:
            while True:
                try:
                    async for event in self._events(committed):
                        first = not delivered.has_content
                        data = render.chunk(cid, chat.model, event, first=first)
                        if data is not None:
                            self.note_delivered(delivered, event, first)
                            yield data
                    break
                except AttemptFailed as failure:
                    engine.metrics.streaming_errors.labels(str(failure.classification.category)).inc()
                    log.warning("stream from provider=%s failed after commit: %s correlation_id=%s",
                                committed.provider, failure.reason, cid)
                    committed.settle(None if failure.classification.category is Category.CONTEXT else False)
                    await committed.call.close()
                    resumed = await self.after_commit_failure(engine, committed, chat, cid)
                    if resumed is not None:
                        committed = resumed
                        continue
                    for data in self.terminal_events(failure, committed.provider, delivered, chat, cid):
                        yield data
                    finished = True
                    ended = TIMEOUT if failure.classification.category is Category.CONTEXT else ERROR
                    return
            outcome = True
            committed.settle(True)
            yield render.DONE
            finished, ended = True, OK
        except BaseException as exc:
            ended = ending(exc)
            raise
        finally:
            if not finished:
                committed.settle(None)  # the client left: says nothing about the provider
            if finished or self.parts.close_upstream_on_disconnect:
                await committed.call.close()
            self.limiter.release(ended)
            self.observe(engine.metrics, "ok" if outcome else "error", committed.provider, started)

    async def after_commit_failure(self, engine: Engine, committed: Committed, chat: ChatRequest,
                                   cid: str) -> Committed | None:
        """Once bytes reached the client, a failed upstream is neither retried nor sent to another
        provider: the stream ends (None)."""
        return None

    def note_delivered(self, delivered: Transcript, event: Event, first: bool) -> None:
        """What reached the client, for the terminal event's delivered_text."""
        delivered.add(event)

    def terminal_events(self, failure: AttemptFailed, provider: str, delivered: Transcript, chat: ChatRequest,
                        cid: str) -> list[bytes]:
        """One terminal error event, nothing after it."""
        return [render.sse(stream_failure_error(failure, provider, delivered).envelope(cid))]

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

    def observe(self, metrics: GatewayMetrics, outcome: str, provider: str, started: float) -> None:
        """Each completed request once, successful or not."""
        metrics.request_duration.labels(provider, outcome).observe((time.monotonic() - started) * 1000)

    async def health(self, request: Request) -> Response:
        """Up is up: no token, no slot, whatever the providers and breakers are doing."""
        return JSONResponse({"status": "ok"})

    async def metrics_page(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4")


def ending(exc: BaseException) -> str:
    """How a request that raised `exc` ended, for the limiter."""
    if isinstance(exc, ServiceError):
        return TIMEOUT if exc.code == "GATEWAY_TIMEOUT" else ERROR
    if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
        return DISCONNECT
    return ERROR


def build_app(raw_config: dict[str, Any], time_scale: float, parts: Components | None = None) -> Starlette:
    parts = parts or Components()
    gateway = (parts.gateway or Gateway)(parts.configure(parse_config(raw_config)), ScaledClock(time_scale), parts)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Built before the first request, inside the server's loop: loading its TLS context takes
        # about 0.1 s, which would otherwise delay the first call and eat into its timeouts.
        _ = gateway.engine.client
        yield

    routes = [Route("/health", gateway.health, methods=["GET"]),
              Route("/metrics", gateway.metrics_page, methods=["GET"]),
              Route("/v1/chat/completions", gateway.chat_completions, methods=["POST"])]
    if gateway.config.admin_reset:
        routes.append(Route("/admin/reset", gateway.reset, methods=["POST"]))
    return Starlette(routes=routes,
                     middleware=[Middleware(CorrelationIdMiddleware)],
                     exception_handlers=parts.error_handlers(parts.render_error), lifespan=lifespan)


async def _pump(call: UpstreamCall, queue: asyncio.Queue[Event | AttemptFailed | None]) -> None:
    try:
        async for event in call.events():
            await queue.put(event)
    except AttemptFailed as failure:
        await queue.put(failure)
    await queue.put(None)
