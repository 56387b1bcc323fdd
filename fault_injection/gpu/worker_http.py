"""The fake worker's HTTP surface, rbee's llm-worker contract (research/rbee.md §2.2):

    GET  /health         {"status":"healthy","vram_bytes":N}
    GET  /v1/ready       {"ready":true,"state":"idle","model_loaded":true}
    POST /v1/inference   200 text/event-stream: `data: <json>` frames tagged by "type"
                         (started, token*, end | error), then `data: [DONE]`
    POST /v1/shutdown    200, then the worker exits 0 (rbee's hive calls it before SIGTERM)

Token faults come from the device's plan entry: oom -> an error event then [DONE] (the worker
lives on); fail -> the same with a non-GPU code (INFERENCE_FAILED); crash -> the process dies
mid-stream; hang -> nothing more is sent, ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from fault_injection.gpu.journal import Journal
from fault_injection.gpu.plan import DeviceFaults, GpuPlan

CRASH_EXIT = 101  # what a panicking Rust worker exits with
DONE = b"data: [DONE]\n\n"


def sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


@dataclass
class WorkerState:
    plan: GpuPlan
    faults: DeviceFaults
    journal: Journal
    vram_bytes: int
    request_shutdown: Callable[[], None]
    stopping: asyncio.Event  # set once the worker is stopping: open streams end at once
    active_jobs: set[str] = field(default_factory=set)


@dataclass
class _Progress:
    job_id: str
    sent: int = 0
    finished: bool = False


def _validate(body: object) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return [{"field": "body", "constraint": "object", "message": "body must be a JSON object"}]
    errors = []
    if not isinstance(body.get("job_id"), str) or not body["job_id"]:
        errors.append({"field": "job_id", "constraint": "non_empty", "message": "job_id must not be empty"})
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 32768:
        errors.append({"field": "prompt", "constraint": "length(1..=32768)",
                       "message": "prompt must be 1 to 32768 characters"})
    tokens = body.get("max_tokens")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= 2048:
        errors.append({"field": "max_tokens", "constraint": "range(1..=2048)",
                       "message": f"max_tokens must be between 1 and 2048 (got {tokens})", "value": str(tokens)})
    return errors


def _first_fault(faults: DeviceFaults, sent: int) -> str | None:
    for name, after in (("crash", faults.crash_after_tokens), ("oom", faults.oom_after_tokens),
                        ("hang", faults.hang_after_tokens), ("fail", faults.fail_after_tokens)):
        if after == sent:
            return name
    return None


async def _events(state: WorkerState, progress: _Progress, planned: int, max_tokens: int) -> AsyncIterator[bytes]:
    job, journal = progress.job_id, state.journal
    interval = state.plan.real_seconds(state.plan.worker.token_interval_seconds)
    yield sse({"type": "started", "job_id": job, "model": "model", "started_at": "0"})
    while True:
        fault = _first_fault(state.faults, progress.sent)
        if fault is not None:
            journal.write("inference_fault", job_id=job, fault=fault, tokens_sent=progress.sent)
        if fault == "crash":
            journal.write("exit", code=CRASH_EXIT, reason="crash_after_tokens")
            os._exit(CRASH_EXIT)  # abrupt on purpose: no end event, no [DONE], sockets reset by the kernel
        if fault in ("oom", "fail"):
            yield sse({"type": "error", "code": "GPU_VRAM_EXHAUSTED", "message": f"CUDA out of memory after "
                       f"{progress.sent} tokens"} if fault == "oom" else
                      {"type": "error", "code": "INFERENCE_FAILED", "message": f"sampling failed after "
                       f"{progress.sent} tokens"})
            yield DONE
            progress.finished = True
            return
        if fault == "hang":
            await anyio.sleep_forever()
        if progress.sent >= planned:
            break
        await anyio.sleep(interval)
        yield sse({"type": "token", "t": f"tok{progress.sent} ", "i": progress.sent})
        progress.sent += 1
    yield sse({"type": "end", "tokens_out": progress.sent, "decode_time_ms": int(planned * interval * 1000),
               "stop_reason": "MAX_TOKENS" if progress.sent >= max_tokens else "EOS"})
    yield DONE
    progress.finished = True
    journal.write("inference_finished", job_id=job, tokens_sent=progress.sent,
                  stop_reason="MAX_TOKENS" if progress.sent >= max_tokens else "EOS")


class EventStream:
    """An SSE response that notices the client leaving even while it sends nothing (a hang)."""

    def __init__(self, state: WorkerState, progress: _Progress, events: AsyncIterator[bytes],
                 correlation_id: str) -> None:
        self.state, self.progress, self.events, self.correlation_id = state, progress, events, correlation_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
                   (b"x-correlation-id", self.correlation_id.encode())]
        gone = aborted = False
        self.state.active_jobs.add(self.progress.job_id)
        try:
            async with anyio.create_task_group() as group:

                async def watch_client() -> None:
                    nonlocal gone
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    gone = True
                    group.cancel_scope.cancel()

                async def watch_worker() -> None:
                    nonlocal aborted
                    await self.state.stopping.wait()
                    aborted = True
                    group.cancel_scope.cancel()

                group.start_soon(watch_client)
                group.start_soon(watch_worker)
                try:
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    async for chunk in self.events:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                except OSError:
                    gone = True
                group.cancel_scope.cancel()
            if aborted and not gone:
                # Close the chunked body properly (no [DONE]) so the server has nothing to complain about.
                with contextlib.suppress(OSError):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.state.active_jobs.discard(self.progress.job_id)
            if not self.progress.finished and (gone or aborted):
                self.state.journal.write("client_disconnected" if gone else "inference_aborted",
                                         job_id=self.progress.job_id, tokens_sent=self.progress.sent)


def build_app(state: WorkerState) -> Starlette:
    async def health(_: Request) -> Response:
        return JSONResponse({"status": "healthy", "vram_bytes": state.vram_bytes})

    async def ready(_: Request) -> Response:
        return JSONResponse({"ready": True, "state": "idle", "model_loaded": True})

    async def inference(request: Request) -> Response | EventStream:
        correlation = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return PlainTextResponse("Failed to parse the request body as JSON", status_code=400)
        errors = _validate(body)
        if errors:
            return JSONResponse({"errors": errors}, status_code=400, headers={"x-correlation-id": correlation})
        max_tokens = int(body["max_tokens"])
        planned = min(max_tokens, state.plan.worker.tokens_per_inference)
        progress = _Progress(str(body["job_id"]))
        state.journal.write("inference_started", job_id=progress.job_id, tokens_planned=planned,
                            correlation_id=request.headers.get("x-correlation-id"))
        return EventStream(state, progress, _events(state, progress, planned, max_tokens), correlation)

    async def shutdown(_: Request) -> Response:
        state.journal.write("shutdown_requested")
        state.request_shutdown()
        return JSONResponse({"message": "Worker shutting down"})

    return Starlette(routes=[
        Route("/health", health, methods=["GET"]),
        Route("/v1/ready", ready, methods=["GET"]),
        Route("/v1/inference", inference, methods=["POST"]),
        Route("/v1/shutdown", shutdown, methods=["POST"]),
    ])
