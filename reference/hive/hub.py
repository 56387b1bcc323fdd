"""The model hub as the hive sees it: metadata and files, each call retried and behind the breaker.

An operation (one metadata fetch, one file download) is a first attempt plus the policy's retries;
only its final outcome reaches the breaker, so the retry schedule is never cut short by it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.common.breaker import Admission, CircuitBreaker, State
from reference.hive.classify import Classifier, Verdict
from reference.hive.codes import DOWNLOAD_FAILED, MODEL_NOT_FOUND, hive_error
from reference.hive.retry import RetryPolicy
from reference.hive.validation import ModelRef
from reference.common.tls import UPSTREAM_TLS

log = logging.getLogger("reference.hive.hub")
T = TypeVar("T")


@dataclass(frozen=True)
class ModelInfo:
    ref: str
    files: tuple[str, ...]
    required_vram_mib: int | None

    @staticmethod
    def from_metadata(ref: str, raw: Any) -> ModelInfo:
        raw = raw if isinstance(raw, dict) else {}
        files = [s.get("rfilename") for s in raw.get("siblings") or [] if isinstance(s, dict)]
        files += [f for f in raw.get("files") or [] if isinstance(f, str)]
        vram = raw.get("required_vram_mib")
        safe = tuple(f for f in files if isinstance(f, str) and _safe_file(f))
        return ModelInfo(ref, safe, int(vram) if isinstance(vram, (int, float)) else None)


def _safe_file(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and ".." not in parts and "\x00" not in name


@dataclass
class AttemptFailed(Exception):
    reason: str
    verdict: Verdict
    status: int | None = None


@dataclass
class OperationFailed(Exception):
    what: str
    last: AttemptFailed
    attempts: int


class Hub:
    def __init__(self, base_url: str, policy: RetryPolicy, breaker: CircuitBreaker, classifier: Classifier,
                 clock: ScaledClock, attempt_timeout: float, temp_dir: Path,
                 keep_partial: bool = False) -> None:
        self.base_url, self.policy, self.breaker, self.classifier = base_url, policy, breaker, classifier
        self.clock, self.temp_dir, self.keep_partial = clock, temp_dir, keep_partial
        self._timeout = httpx.Timeout(clock.real(attempt_timeout))
        # No keep-alive: every attempt is its own connection, visible to the proxy and the fake hub.
        self._client = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0), trust_env=False,
                                         verify=UPSTREAM_TLS)

    async def close(self) -> None:
        await self._client.aclose()

    async def model_info(self, ref: ModelRef, cid: str) -> ModelInfo:
        url = f"{self.base_url}/api/models/{ref.repo}"
        raw = await self._operation("metadata", cid, lambda: self._get_json(url, cid), ref)
        return ModelInfo.from_metadata(ref.text, raw)

    async def download(self, ref: ModelRef, file: str, destination: Path, cid: str) -> None:
        url = f"{self.base_url}/{ref.repo}/resolve/main/{file}"
        partial = self.temp_dir / f"download-{uuid.uuid4().hex}.part"
        try:
            await self._operation("file", cid, lambda: self._fetch(url, partial, cid), ref)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(partial, destination)
        finally:
            if not self.keep_partial:
                partial.unlink(missing_ok=True)

    async def _operation(self, what: str, cid: str, attempt: Callable[[], Awaitable[T]], ref: ModelRef) -> T:
        if not self.base_url:
            raise hive_error(DOWNLOAD_FAILED, "no model hub is configured",
                             {"model_ref": ref.text, "attempts": 0, "suggested_action": "Configure hub_url"})
        admission = await self._admitted(cid)
        try:
            result = await self._with_retries(what, cid, attempt)
        except OperationFailed as failure:
            if failure.last.verdict.counts_against_breaker:
                self.breaker.failed(admission)
            else:
                self.breaker.neutral(admission)
            raise self._error(failure, ref) from None
        except BaseException:
            self.breaker.neutral(admission)
            raise
        self.breaker.succeeded(admission)
        return result

    async def _admitted(self, cid: str) -> Admission:
        """The breaker's admission, or CIRCUIT_BREAKER_OPEN unless the policy retries a rejection."""
        rejections = 0
        while True:
            admission = self.breaker.admit()
            if admission.allowed:
                return admission
            rejections += 1
            if not self.policy.retries_breaker_rejection(rejections, self.breaker.state is State.OPEN):
                wait = max(1, math.ceil(admission.retry_after))
                raise ServiceError("CIRCUIT_BREAKER_OPEN", "the model hub is failing; calls are suspended",
                                   {"upstream": "hub", "retry_after_seconds": wait,
                                    "state": str(self.breaker.state),
                                    "suggested_action": f"Retry after {wait} seconds"})
            delay = self.policy.delay(rejections)
            log.warning("hub breaker open; attempt %d/%d in %.3f spec s correlation_id=%s", rejections + 1,
                        self.policy.max_attempts, delay, cid)
            await self.clock.sleep(delay)

    async def _with_retries(self, what: str, cid: str, attempt: Callable[[], Awaitable[T]]) -> T:
        number = 1
        while True:
            try:
                return await attempt()
            except AttemptFailed as failure:
                if not (failure.verdict.retryable and self.policy.should_retry(number)):
                    raise OperationFailed(what, failure, number) from None
                delay = self.policy.delay(number)
                number += 1
                self._log_retry(what, failure.reason, number, delay, cid)
                await self.clock.sleep(delay)

    def _log_retry(self, what: str, reason: str, attempt: int, delay: float, cid: str) -> None:
        """Before attempt `attempt` (2..M) starts. No URL or model here: log lines must not carry
        request content."""
        log.warning("hub %s download failed (%s); attempt %d/%d in %.3f spec s correlation_id=%s",
                    what, reason, attempt, self.policy.max_attempts, delay, cid)

    def _headers(self, cid: str) -> dict[str, str]:
        return {"x-correlation-id": cid}

    async def _get_json(self, url: str, cid: str) -> Any:
        async with self._exchange(url, cid) as response:
            body = await response.aread()
        try:
            return json.loads(body)
        except ValueError:
            raise AttemptFailed("metadata is not JSON", self.classifier.connection_failure()) from None

    async def _fetch(self, url: str, partial: Path, cid: str) -> None:
        partial.unlink(missing_ok=True)  # each attempt starts the file over
        async with self._exchange(url, cid) as response:
            with partial.open("wb") as sink:
                async for piece in response.aiter_bytes():
                    sink.write(piece)

    def _exchange(self, url: str, cid: str) -> _Exchange:
        return _Exchange(self._client, url, self._headers(cid), self._timeout, self.classifier)

    def _error(self, failure: OperationFailed, ref: ModelRef) -> ServiceError:
        status = failure.last.status
        details = {"model_ref": ref.text, "attempts": failure.attempts, "upstream_status": status}
        if status == 404 and failure.what == "metadata":
            return hive_error(MODEL_NOT_FOUND, f"the hub does not know {ref.text}",
                              {**details, "suggested_action": "Check the model reference"})
        return hive_error(DOWNLOAD_FAILED, f"the model hub failed after {failure.attempts} attempt(s): "
                                           f"{failure.last.reason}",
                          {**details, "suggested_action": "Retry later; the model hub is failing"})


class _Exchange:
    """One attempt's response, failing with AttemptFailed unless the hub answers 2xx."""

    def __init__(self, client: httpx.AsyncClient, url: str, headers: dict[str, str], timeout: httpx.Timeout,
                 classifier: Classifier) -> None:
        self._client, self._url, self._headers = client, url, headers
        self._timeout, self._classifier = timeout, classifier
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> httpx.Response:
        request = self._client.build_request("GET", self._url, headers=self._headers, timeout=self._timeout)
        try:
            self._response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise AttemptFailed(type(exc).__name__, self._classifier.timeout()) from None
        except httpx.HTTPError as exc:
            raise AttemptFailed(type(exc).__name__, self._classifier.connection_failure()) from None
        if self._response.status_code >= 400:
            await self._response.aclose()
            status = self._response.status_code
            raise AttemptFailed(f"HTTP {status}", self._classifier.status(status), status)
        return self._response

    async def __aexit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if self._response is not None:
            await self._response.aclose()
        if isinstance(exc, httpx.TimeoutException):
            raise AttemptFailed(f"body stalled: {type(exc).__name__}", self._classifier.timeout()) from None
        if isinstance(exc, httpx.HTTPError):
            raise AttemptFailed(f"body broke: {type(exc).__name__}",
                                self._classifier.connection_failure()) from None
