"""One inference on one worker: rbee's SSE read event by event, under the inference deadline.

    started, token*, end, [DONE]     success
    error {code, message}, [DONE]    the worker failed in band (an OOM keeps its GPU code)
    the stream stops early           the worker crashed: WORKER_CRASHED with what was delivered
    no end by the deadline           INFERENCE_TIMEOUT; the caller stops the hung worker
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.hive.codes import GPU_CODES, INFERENCE_FAILED, INFERENCE_TIMEOUT, WORKER_CRASHED, hive_error
from reference.hive.validation import InferenceRequest
from reference.hive.workers import Worker


@dataclass
class Delivered:
    tokens: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    def details(self) -> dict[str, Any]:
        return {"delivered_tokens": len(self.tokens), "delivered_text": self.text}


@dataclass
class WorkerFailed(Exception):
    error: ServiceError
    hung: bool = False              # the worker stopped answering: it must be stopped


class WorkerCall:
    def __init__(self, client: httpx.AsyncClient, worker: Worker, request: InferenceRequest,
                 clock: ScaledClock, timeout: float, cid: str) -> None:
        self.client, self.worker, self.request, self.clock, self.cid = client, worker, request, clock, cid
        self.timeout = timeout
        self.deadline = time.monotonic() + clock.real(timeout)
        self.delivered = Delivered()
        self._response: httpx.Response | None = None

    def _remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)

    def _base(self) -> dict[str, Any]:
        return {"worker_id": self.worker.id, "model": self.worker.request.model.text,
                **self.delivered.details()}

    def timed_out(self) -> WorkerFailed:
        error = hive_error(INFERENCE_TIMEOUT, f"the worker gave no complete answer within {self.timeout:g}s",
                           {**self._base(), "timeout_seconds": self.timeout,
                            "suggested_action": "Retry with fewer tokens or a smaller model"})
        return WorkerFailed(error, hung=True)

    def crashed(self, reason: str) -> WorkerFailed:
        return WorkerFailed(hive_error(WORKER_CRASHED, f"the worker failed mid-inference: {reason}",
                                       {**self._base(), "exit_code": self.worker.exit_code,
                                        "suggested_action": "Use the delivered part, or retry"}))

    def in_band(self, event: dict[str, Any]) -> WorkerFailed:
        code = str(event.get("code") or "")
        message = str(event.get("message") or "the worker reported an error")[:300]
        given = event.get("details")
        worker_details: dict[str, Any] = given if isinstance(given, dict) else {}
        if code in GPU_CODES:
            # What the worker did not say about VRAM stays explicitly unknown (None), never invented.
            unknown: dict[str, Any] = {"required_vram_mib": None, "available_vram_mib": None, "alternative_models": []}
            details = {**unknown, **worker_details, **self._base(), "device": self.worker.request.device,
                       "suggested_action": "Use a smaller model or explicitly select the CPU backend"}
            return WorkerFailed(hive_error(code, f"the worker failed on the GPU: {message}", details))
        return WorkerFailed(hive_error(INFERENCE_FAILED, f"the worker failed: {message}",
                                       {**self._base(), "worker_code": code or None,
                                        "suggested_action": "Retry the request"}))

    def headers(self) -> dict[str, str]:
        return {"x-correlation-id": self.cid}

    async def open(self) -> None:
        body = {"job_id": f"job-{uuid.uuid4().hex}", "prompt": self.request.prompt,
                "max_tokens": self.request.max_tokens, "stream": True}
        request = self.client.build_request("POST", f"{self.worker.url}/v1/inference", json=body,
                                            headers=self.headers(),
                                            timeout=httpx.Timeout(self._remaining()))
        try:
            self._response = await self.client.send(request, stream=True)
        except httpx.TimeoutException:
            raise self.timed_out() from None
        except httpx.HTTPError as exc:
            raise self.crashed(type(exc).__name__) from None
        if self._response.status_code >= 400:
            status = self._response.status_code
            await self._response.aclose()
            raise self.crashed(f"HTTP {status}")

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Worker events up to and including `end`; failures raise WorkerFailed."""
        assert self._response is not None
        lines = self._response.aiter_lines()
        try:
            while True:
                if time.monotonic() >= self.deadline:
                    raise self.timed_out()
                try:
                    line = await self._next_line(lines)
                except StopAsyncIteration:
                    raise self.crashed("the stream ended without an end event") from None
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    raise self.crashed("the stream ended without an end event")
                try:
                    event = json.loads(data)
                except ValueError:
                    raise self.crashed("the worker sent malformed data") from None
                if not isinstance(event, dict):
                    continue
                kind = event.get("type")
                if kind == "error":
                    raise self.in_band(event)
                if kind == "token":
                    self.delivered.tokens.append(str(event.get("t", "")))
                yield event
                if kind == "end":
                    return
        except httpx.TimeoutException:
            raise self.timed_out() from None
        except httpx.HTTPError as exc:
            raise self.crashed(type(exc).__name__) from None

    async def _next_line(self, lines: AsyncIterator[str]) -> str:
        # Not asyncio.wait_for: on Python 3.11 it reads in a task of its own, and a cancel (the client
        # hung up) now and then never reached that read, which went on until the worker ended.
        try:
            async with asyncio.timeout(self._remaining()):
                return await anext(lines)
        except TimeoutError:
            raise self.timed_out() from None

    async def close(self) -> None:
        if self._response is not None:
            await self._response.aclose()
