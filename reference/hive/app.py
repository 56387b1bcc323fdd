"""The reference hive's HTTP surface (rbee-hive paths where rbee has them).

    GET  /v1/health          public   200 {status, version, api_version}
    POST /v1/models/download bearer   200 | 400 | 404 MODEL_NOT_FOUND | 502 DOWNLOAD_FAILED | 503 breaker
    POST /v1/workers/spawn   bearer   200 {worker_id, url, state, pid} | 400 | 500 CUDA_DEVICE_FAILED,
                                      GPU_VRAM_EXHAUSTED, WORKER_SPAWN_FAILED | download errors
    POST /v1/workers/ready   the loading worker it spawned (no bearer), else bearer; 404 unknown id
    GET  /v1/workers/list    bearer   200 {workers: [..., exit_code], queue: {waiting, max_queue}}
    POST /v1/workers/stop    bearer   200 {worker_id, exit_code, state} | 404 WORKER_NOT_FOUND
    POST /v1/inference       bearer   200 JSON {text, tokens} or rbee SSE | 503 at capacity |
                                      504 INFERENCE_TIMEOUT | 502 WORKER_CRASHED | GPU codes
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.common.http import correlation_id, exception_handlers, read_body, unless_disconnected
from reference.hive import render
from reference.hive.codes import WORKER_NOT_FOUND, hive_error
from reference.hive.components import Components
from reference.hive.config import HiveConfig
from reference.hive.gpu import NvidiaSmi
from reference.hive.hub import Hub
from reference.hive.inference import WorkerFailed
from reference.hive.models import ModelStore
from reference.hive.validation import InferenceRequest
from reference.hive.retry import RetryPolicy
from reference.hive.workers import Worker
from reference.common.tls import UPSTREAM_TLS

log = logging.getLogger("reference.hive")
VERSION = "0.1.0"


class Hive:
    def __init__(self, config: HiveConfig, clock: ScaledClock, parts: Components, port: int) -> None:
        self.config, self.clock, self.parts = config, clock, parts
        config.temp_dir.mkdir(parents=True, exist_ok=True)
        config.models_dir.mkdir(parents=True, exist_ok=True)
        self.auth = parts.authenticator(config.api_token)
        self.validator = parts.validator()
        self.breaker = parts.breaker(config.breaker, clock)
        self.hub = self._hub(parts.retry_policy(config.retry))
        self.models = ModelStore(config.models_dir, self.hub)
        spawn_models = self.models if parts.spawn_retry_policy is None else \
            ModelStore(config.models_dir, self._hub(parts.spawn_retry_policy(config.retry)))
        self.limiter = parts.limiter(config.limits, lambda: list(self.supervisor.workers.values()))
        self.supervisor = parts.supervisor(config.worker_command, config.env, config.temp_dir, clock,
                                     config.timeouts.cleanup, config.limits.slots_per_worker,
                                     self.limiter.changed, escalate=parts.escalate_to_sigkill,
                                     term_grace=parts.term_grace,
                                     remove_temp=parts.remove_temp_files)
        smi = NvidiaSmi(config.nvidia_smi, config.env, clock.real(config.timeouts.nvidia_smi) + 1.0)
        self.spawner = parts.spawner(clock, spawn_models, parts.preflight(smi), self.supervisor,
                               config.timeouts.ready, f"http://127.0.0.1:{port}/v1/workers/ready",
                               parts.gpu_fallback)
        # No keep-alive: closing a worker request closes its connection, which is how a worker is told.
        self.client = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0), trust_env=False,
                                        verify=UPSTREAM_TLS)

    def _hub(self, policy: RetryPolicy) -> Hub:
        config = self.config
        return self.parts.hub(config.hub_url, policy, self.breaker, self.parts.classifier(), self.clock,
                              config.timeouts.hub, config.temp_dir, keep_partial=not self.parts.remove_temp_files)

    # -- plumbing ---------------------------------------------------------------------------------

    async def body(self, request: Request) -> dict[str, Any]:
        return self.validator.json_object(await read_body(request, self.config.limits.max_body_bytes))

    def authorise(self, request: Request) -> None:
        self.auth.check(request.headers.get("authorization", ""))

    def worker(self, worker_id: str) -> Worker:
        found = self.supervisor.workers.get(worker_id)
        if found is None:
            raise hive_error(WORKER_NOT_FOUND, "no such worker",
                             {"worker_id": worker_id,
                              "suggested_action": "List workers with GET /v1/workers/list"})
        return found

    async def shutdown(self) -> None:
        if self.parts.stop_workers_on_shutdown:
            await self.supervisor.stop_all()
        await self.client.aclose()
        await self.hub.close()
        if self.parts.remove_temp_files:
            for entry in list(self.config.temp_dir.iterdir()):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    # -- routes -----------------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "alive", "version": VERSION, "api_version": "v1"})

    async def download(self, request: Request) -> Response:
        self.authorise(request)
        ref = self.validator.model_ref(await self.body(request))
        info, cached = await self.models.ensure(ref, correlation_id(request))
        return JSONResponse({"download_id": "cached" if cached else "complete", "model_ref": ref.text,
                             "local_path": str(self.models.path(ref, info))})

    async def spawn(self, request: Request) -> Response:
        self.authorise(request)
        spawn = self.validator.spawn(await self.body(request))
        worker = await self.spawner.spawn(spawn, correlation_id(request))
        return JSONResponse({"worker_id": worker.id, "url": worker.url, "state": str(worker.state),
                             "pid": worker.pid})

    async def ready(self, request: Request) -> Response:
        # The worker calls back without a bearer (as rbee's does); only a loading worker we started may.
        try:
            raw = await self.body(request)
            worker_id = self.validator.worker_id(raw)
        except ServiceError:
            self.authorise(request)
            raise
        if self.supervisor.mark_ready(worker_id):
            log.info("%s is ready", worker_id)
            return JSONResponse({"message": "Worker registered as ready"})
        self.authorise(request)
        worker = self.worker(worker_id)
        raise ServiceError("VALIDATION_ERROR", f"worker is {worker.state}, not loading",
                           {"fields": {"worker_id": "must name a loading worker"},
                            "suggested_action": "Only a loading worker reports ready"})

    async def list_workers(self, request: Request) -> Response:
        self.authorise(request)
        return JSONResponse({"workers": [w.info() for w in self.supervisor.workers.values()],
                             "queue": {"waiting": self.limiter.waiting,
                                       "max_queue": self.config.limits.max_queue}})

    async def stop(self, request: Request) -> Response:
        self.authorise(request)
        worker = self.worker(self.validator.worker_id(await self.body(request)))
        exit_code = await self.supervisor.stop(worker)
        return JSONResponse({"worker_id": worker.id, "exit_code": exit_code, "state": str(worker.state)})

    async def inference(self, request: Request) -> Response:
        self.authorise(request)
        wanted = self.validator.inference(await self.body(request))
        cid = correlation_id(request)
        held = AsyncExitStack()  # the slot and the worker connection, released together
        try:
            # Until the stream is committed, a client that leaves frees its queue place or slot at once.
            started = await unless_disconnected(request, self._start(wanted, held, cid))
        except BaseException:
            await held.aclose()
            raise
        if not isinstance(started, Streaming):
            await held.aclose()
            return started if started is not None else Response(status_code=499)
        return StreamingResponse(self._relay(started, held, cid), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Correlation-ID": cid})

    async def _start(self, wanted: InferenceRequest, held: AsyncExitStack, cid: str) -> Response | Streaming:
        worker = await self._take_slot(wanted, held)
        call = self.parts.worker_call(self.client, worker, wanted, self.clock, self.config.timeouts.inference, cid)
        held.push_async_callback(call.close)
        try:
            await call.open()
            events = call.events()
            if not wanted.stream:
                end: dict[str, Any] = {}
                async for event in events:
                    end = event
                return JSONResponse({"text": call.delivered.text, "tokens": len(call.delivered.tokens),
                                     "stop_reason": end.get("stop_reason"), "worker_id": worker.id},
                                    headers={"X-Correlation-ID": cid})
            # Commit to 200 only with the first token: a worker failing before it gets an HTTP status.
            head = [await anext(events)]
            while head[-1].get("type") not in ("token", "end"):
                head.append(await anext(events))
        except WorkerFailed as failure:
            self._release_after(failure, worker)
            raise failure.error from None
        return Streaming(worker, head, events)

    async def _take_slot(self, wanted: InferenceRequest, held: AsyncExitStack) -> Worker:
        """A slot (or a queue place, then a slot) on a worker for the model, given back when `held` closes."""
        return await held.enter_async_context(self.limiter.slot(wanted.model))

    async def _relay(self, stream: Streaming, held: AsyncExitStack, cid: str) -> AsyncIterator[bytes]:
        try:
            for event in stream.head:
                yield render.sse(event)
            if stream.head[-1].get("type") != "end":
                async for event in stream.events:
                    yield render.sse(event)
            yield render.DONE
        except WorkerFailed as failure:
            self._release_after(failure, stream.worker)
            yield self.parts.error_event(failure.error, cid)
            yield render.DONE
        finally:
            await held.aclose()

    def _release_after(self, failure: WorkerFailed, worker: Worker) -> None:
        if failure.hung:
            worker.stopping = True  # no new request reaches it while it is being stopped
            self.supervisor.stop_later(worker)


@dataclass(frozen=True)
class Streaming:
    """A worker stream that produced its first token: from here on failures are in-band events."""

    worker: Worker
    head: list[dict[str, Any]]
    events: AsyncIterator[dict[str, Any]]


def build_app(hive: Hive) -> Starlette:
    routes = [Route("/v1/health", hive.health, methods=["GET"]),
              Route("/v1/models/download", hive.download, methods=["POST"]),
              Route("/v1/workers/spawn", hive.spawn, methods=["POST"]),
              Route("/v1/workers/ready", hive.ready, methods=["POST"]),
              Route("/v1/workers/list", hive.list_workers, methods=["GET"]),
              Route("/v1/workers/stop", hive.stop, methods=["POST"]),
              Route("/v1/inference", hive.inference, methods=["POST"])]
    return Starlette(routes=routes, middleware=[Middleware(hive.parts.middleware)],
                     exception_handlers=exception_handlers(hive.parts.render_error))
