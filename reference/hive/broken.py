"""The broken parts the hive's defects (reference.hive.defects) are made of: each a component of
the reference with one realistic bug, the kind an implementer writes (an off-by-one, a neighbouring
exit code, a cooldown restarted by every rejection, a slot kept on the error path).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import logging
import math
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from reference.common.breaker import Admission, CircuitBreaker, State
from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.common.http import CORRELATION_HEADER, CorrelationIdMiddleware, correlation_id
from reference.hive import render
from reference.hive.app import Hive, Streaming
from reference.hive.auth import Authenticator
from reference.hive.classify import TRANSIENT_4XX, Classifier, Verdict
from reference.hive.codes import (CUDA_DEVICE_FAILED, INFERENCE_FAILED, WORKER_SPAWN_FAILED, hive_error,
                                  is_gpu_failure)
from reference.hive.config import HiveConfig
from reference.hive.gpu import GpuDevice, GpuPreflight, VramShortfall, device_failed
from reference.hive.hub import AttemptFailed, Hub, ModelInfo, OperationFailed
from reference.hive.inference import WorkerCall, WorkerFailed
from reference.hive.limiter import SlotLimiter
from reference.hive.retry import RetryPolicy
from reference.hive.spawn import Spawner
from reference.hive.startup import unusable_device
from reference.hive.validation import (ModelRef, SpawnRequest, Validator, invalid,
                                       parse_model_ref)
from reference.hive.workers import Supervisor, Worker, free_port
from reference.common.tls import UPSTREAM_TLS

log = logging.getLogger("reference.hive.broken")

# -- classification and retries ---------------------------------------------------------------


class RetriesPermanent(Classifier):
    def status(self, status: int) -> Verdict:
        return Verdict(retryable=True, counts_against_breaker=True)


class RetriesAll4xxBut404(Classifier):
    """`status >= 400 and status != 404`: a client error other than a missing model is retried."""

    def status(self, status: int) -> Verdict:
        transient = status >= 400 and status != 404
        return Verdict(retryable=transient, counts_against_breaker=transient)


class Treats408AsPermanent(Classifier):
    """Only 429 is the transient 4xx: a 408 Request Timeout is taken for a client error."""

    def status(self, status: int) -> Verdict:
        transient = status >= 500 or status == 429
        return Verdict(retryable=transient, counts_against_breaker=transient)


class StallNotRetried(Classifier):
    """An attempt the hub left unanswered is given up, as if a timeout meant the hub said no."""

    def timeout(self) -> Verdict:
        return Verdict(retryable=False, counts_against_breaker=True)


class NotFoundCountsAgainstBreaker(Classifier):
    """Never retries a 404, but counts it as a hub failure."""

    def status(self, status: int) -> Verdict:
        transient = status >= 500 or status in TRANSIENT_4XX
        return Verdict(retryable=transient, counts_against_breaker=transient or status == 404)


class NoJitter(RetryPolicy):
    def jitter(self) -> float:
        return 0.0


class JitterByAttempt(RetryPolicy):
    """The jitter is a fixed function of the retry: 0.2, 0.4, 0.6, 0.8, 1.0 s."""

    def delay(self, retry: int) -> float:
        return self.base_delay(retry) + 0.2 * retry


class SymmetricJitter(RetryPolicy):
    """Jitter of +/- 0.5 s around the base delay instead of [0, 1] s above it."""

    def jitter(self) -> float:
        return self.rng.uniform(-0.5, 0.5)


class JitterUpTo2s(RetryPolicy):
    """Jitter drawn from [0, 2] s: twice the bound."""

    def jitter(self) -> float:
        return self.rng.uniform(0.0, 2.0)


class CappedAt8s(RetryPolicy):
    """The backoff is capped at 8 s, so the last retry waits 8 s instead of 16 s."""

    def base_delay(self, retry: int) -> float:
        return min(super().base_delay(retry), 8.0)


class RetriesOpenBreaker(RetryPolicy):
    """Retries a download the open breaker rejected during its cooldown with the hub backoff, like a
    transient failure (a half-open breaker's rejection still fails at once)."""

    def retries_breaker_rejection(self, rejection: int, cooling_down: bool) -> bool:
        return cooling_down and self.should_retry(rejection)


class ImmediateRetries(RetryPolicy):
    """The spawn path's own retry loop: the same attempts, no wait between them."""

    def delay(self, retry: int) -> float:
        return 0.0


# -- the hub client -----------------------------------------------------------------------------


class AttemptsCountRetries(Hub):
    """DOWNLOAD_FAILED's details.attempts counts the retries (5), not the attempts (6)."""

    def _error(self, failure: OperationFailed, ref: ModelRef) -> ServiceError:
        return super()._error(dataclasses.replace(failure, attempts=failure.attempts - 1), ref)


class MissingModelIsDownloadFailed(Hub):
    """Every failed hub operation is DOWNLOAD_FAILED, a hub 404 included."""

    def _error(self, failure: OperationFailed, ref: ModelRef) -> ServiceError:
        return hive_error("DOWNLOAD_FAILED", f"the model hub failed after {failure.attempts} attempt(s)",
                          {"model_ref": ref.text, "attempts": failure.attempts,
                           "upstream_status": failure.last.status, "suggested_action": "Retry later"})


class BreakerPerAttempt(Hub):
    """The breaker wraps each HTTP attempt rather than the operation: five failed attempts open it,
    and the retries of a download still running hit the open breaker."""

    async def _operation(self, what: str, cid: str, attempt: Callable[[], Any], ref: ModelRef) -> Any:
        async def guarded() -> Any:
            admission = await self._admitted(cid)
            try:
                result = await attempt()
            except AttemptFailed as failure:
                (self.breaker.failed if failure.verdict.counts_against_breaker else self.breaker.neutral)(admission)
                raise
            self.breaker.succeeded(admission)
            return result

        try:
            return await self._with_retries(what, cid, guarded)
        except OperationFailed as failure:
            raise self._error(failure, ref) from None


class KeepsHubConnections(Hub):
    """httpx's default pool: idle keep-alive connections to the hub stay open after a download."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client = httpx.AsyncClient(trust_env=False, verify=UPSTREAM_TLS)


class PartialInModelsDir(Hub):
    """Writes a file straight to its place in the models directory; a failed download leaves it there."""

    async def download(self, ref: ModelRef, file: str, destination: Path, cid: str) -> None:
        url = f"{self.base_url}/{ref.repo}/resolve/main/{file}"
        destination.parent.mkdir(parents=True, exist_ok=True)
        await self._operation("file", cid, lambda: self._fetch(url, destination, cid), ref)


class LogsRetriesNotAttempts(Hub):
    """Logs the retry number over the number of retries ("attempt 1/5") instead of the attempt about to start."""

    def _log_retry(self, what: str, reason: str, attempt: int, delay: float, cid: str) -> None:
        log.warning("hub %s download failed (%s); attempt %d/%d in %.3f spec s correlation_id=%s",
                    what, reason, attempt - 1, self.policy.max_attempts - 1, delay, cid)


class LogsWithoutCorrelationId(Hub):
    def _log_retry(self, what: str, reason: str, attempt: int, delay: float, cid: str) -> None:
        log.warning("hub %s download failed (%s); attempt %d/%d in %.3f spec s", what, reason, attempt,
                    self.policy.max_attempts, delay)


class NoCorrelationToHub(Hub):
    def _headers(self, cid: str) -> dict[str, str]:
        return {}


# -- breakers -------------------------------------------------------------------------------------


class CooldownRestartsOnRejection(CircuitBreaker):
    """Every call the open breaker rejects starts the cooldown again."""

    def admit(self) -> Admission:
        admission = super().admit()
        if not admission.allowed and self.state is State.OPEN:
            self.opened_at = self.clock.now()
        return admission


class FailedTrialKeepsOpening(CircuitBreaker):
    """A failed trial reopens the breaker, but its cooldown still counts from the first opening."""

    def failed(self, admission: Admission) -> None:
        if admission.trial:
            self.trial_running = False
            return
        super().failed(admission)


class RetryAfterFromFirstFailure(CircuitBreaker):
    """Retry-After counts the cooldown from the first failure of the run that opened it."""

    first_failure: float | None = None

    def failed(self, admission: Admission) -> None:
        if self.failures == 0 and self.first_failure is None:
            self.first_failure = self.clock.now()
        super().failed(admission)

    def succeeded(self, admission: Admission) -> None:
        self.first_failure = None
        super().succeeded(admission)

    def admit(self) -> Admission:
        admission = super().admit()
        if admission.allowed or self.state is not State.OPEN or self.first_failure is None:
            return admission
        return Admission(False, retry_after=max(self.settings.cooldown - (self.clock.now() - self.first_failure), 0.0))


class SuccessDecrementsCount(CircuitBreaker):
    """A success takes one off the consecutive-failure count instead of resetting it."""

    def succeeded(self, admission: Admission) -> None:
        failures = self.failures
        super().succeeded(admission)
        self.failures = max(failures - 1, 0)


# -- GPUs and spawning ----------------------------------------------------------------------------


class NoVramPreflight(GpuPreflight):
    async def check(self, device: int, required_mib: int | None, model: str) -> GpuDevice:
        return await super().check(device, None, model)


class VramAgainstTotal(GpuPreflight):
    """Compares the model's need with the device's total VRAM, not its free VRAM."""

    async def check(self, device: int, required_mib: int | None, model: str) -> GpuDevice:
        found = await super().check(device, None, model)
        if required_mib is not None and required_mib > found.total_mib:
            raise VramShortfall(found, required_mib)
        return found


class ReportsTotalVram(GpuPreflight):
    """Refuses on free VRAM, but reports the device's total as what is available."""

    async def check(self, device: int, required_mib: int | None, model: str) -> GpuDevice:
        try:
            return await super().check(device, required_mib, model)
        except VramShortfall as short:
            raise VramShortfall(dataclasses.replace(short.device, free_mib=short.device.total_mib),
                                short.required_mib) from None


class AbsentDeviceIsDefault(GpuPreflight):
    """An absent device is reported as the default device 0."""

    async def check(self, device: int, required_mib: int | None, model: str) -> GpuDevice:
        try:
            return await super().check(device, required_mib, model)
        except ServiceError as error:
            if error.code == CUDA_DEVICE_FAILED:
                raise device_failed(0, "no such device", model) from None
            raise


def cpu_fallback(request: SpawnRequest, error: ServiceError) -> SpawnRequest | None:
    return dataclasses.replace(request, backend="cpu") if request.backend != "cpu" else None


def cpu_fallback_on_oom(request: SpawnRequest, error: ServiceError) -> SpawnRequest | None:
    """Out of VRAM, the model still runs on the CPU: only a VRAM failure falls back."""
    return dataclasses.replace(request, backend="cpu") if error.code == "GPU_VRAM_EXHAUSTED" else None


def other_device(request: SpawnRequest, error: ServiceError) -> SpawnRequest | None:
    return dataclasses.replace(request, device=request.device + 1)


def same_again(request: SpawnRequest, error: ServiceError) -> SpawnRequest | None:
    return request


def same_again_after_oom(request: SpawnRequest, error: ServiceError) -> SpawnRequest | None:
    """Memory may have been freed meanwhile: a worker that ran out of VRAM loading is tried once more."""
    return request if error.code == "GPU_VRAM_EXHAUSTED" else None


class EarlyExitIsSpawnFailed(Spawner):
    """A worker that exits before it is ready is WORKER_SPAWN_FAILED, whatever it printed."""

    async def ended_early(self, worker: Worker, info: ModelInfo, available: int | None) -> ServiceError:
        return hive_error(WORKER_SPAWN_FAILED, f"the worker exited {worker.exit_code} before it was ready",
                          {"worker_id": worker.id, "exit_code": worker.exit_code, "model": info.ref,
                           "backend": worker.request.backend, "device": worker.request.device,
                           "suggested_action": "Check the worker's log"})


class OomAtLoadIsCudaFailure(Spawner):
    """Every GPU worker that fails to load is a CUDA device failure, an out-of-memory included."""

    async def ended_early(self, worker: Worker, info: ModelInfo, available: int | None) -> ServiceError:
        error = await super().ended_early(worker, info, available)
        if error.code != "GPU_VRAM_EXHAUSTED":
            return error
        return hive_error(CUDA_DEVICE_FAILED, f"CUDA device {worker.request.device} failed",
                          {"device": worker.request.device, "worker_id": worker.id, "model": info.ref,
                           "suggested_action": "Check GPU drivers"})


class AlternativesUnfiltered(Spawner):
    """Lists every model the hive knows as an alternative, whether it fits or not."""

    async def alternatives(self, request: SpawnRequest, available: Any) -> list[str]:
        return sorted({m.ref for m in self.models.known() if m.ref != request.model.text})


class ReadyTimeoutLeaksWorker(Spawner):
    """Answers WORKER_SPAWN_FAILED when the ready callback does not come, but leaves the worker running."""

    async def _spawn_once(self, request: SpawnRequest, info: ModelInfo, cid: str) -> Worker:
        stop = self.supervisor.stop

        async def forget(worker: Worker) -> int | None:
            return None

        self.supervisor.stop = forget  # type: ignore[method-assign]
        try:
            return await super()._spawn_once(request, info, cid)
        finally:
            self.supervisor.stop = stop  # type: ignore[method-assign]


class ReadyTimeoutIs504(Spawner):
    """A worker that never calls back is reported as a timeout (504 INFERENCE_TIMEOUT)."""

    def not_ready(self, worker: Worker, why: str) -> ServiceError:
        return hive_error("INFERENCE_TIMEOUT", f"the worker was not ready in {self.ready_timeout:g}s",
                          {"worker_id": worker.id, "timeout_seconds": self.ready_timeout,
                           "suggested_action": "Retry later"})


class SpawnWrapsDownloadErrors(Spawner):
    """Any failure to get the model is reported as a failed spawn."""

    async def spawn(self, request: SpawnRequest, cid: str) -> Worker:
        try:
            await self.models.ensure(request.model, cid)
        except ServiceError as error:
            raise hive_error(WORKER_SPAWN_FAILED, f"could not get the model: {error.code}",
                             {"model": request.model.text, "backend": request.backend, "device": request.device,
                              "suggested_action": "Check the model hub"}) from None
        return await super().spawn(request, cid)


# -- workers: start, stop, how they ended ----------------------------------------------------------


class FirstDeviceOnly(Supervisor):
    """Starts every worker on device 0: the requested device never reaches the argv."""

    def argv(self, worker_id: str, request: SpawnRequest, model_path: Path, port: int, callback_url: str) -> list[str]:
        return super().argv(worker_id, dataclasses.replace(request, device=0), model_path, port, callback_url)


class NonZeroExitIsOne(Supervisor):
    """Reports every failed worker as exit code 1."""

    def status_of(self, returncode: int) -> int:
        return 0 if returncode == 0 else 1


class SignalAsNegative(Supervisor):
    """Reports Python's returncode as it is: -9 for a worker SIGKILL ended, not 137."""

    def status_of(self, returncode: int) -> int:
        return returncode


class KilledReportedAsTerm(Supervisor):
    """Reports 128 + SIGTERM, the signal it asked the worker to stop with, for any worker a signal ended."""

    def status_of(self, returncode: int) -> int:
        return 128 + signal.SIGTERM if returncode < 0 else returncode


class StopForgetsProcess(Supervisor):
    """Stopping a worker only takes it off the books: its process is never signalled."""

    async def stop(self, worker: Worker) -> int | None:
        if worker.alive:
            worker.exit_code = 0
            worker.ended.set()
            self.on_change()
        return worker.exit_code


class ScratchRemovedOnlyOnStop(Supervisor):
    """Removes a worker's scratch files when the hive stops it, not when it ends on its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopping: set[str] = set()

    async def stop(self, worker: Worker) -> int | None:
        self._stopping.add(worker.id)
        return await super().stop(worker)

    def remove_scratch(self, worker: Worker) -> None:
        if worker.id in self._stopping:
            super().remove_scratch(worker)


class SequentialShutdown(Supervisor):
    """Shuts its workers down one after the other, each with a 4 s SIGTERM grace (within the 5 s
    cleanup timeout for one worker, not for two)."""

    def term_grace(self) -> float:
        return 4.0

    async def stop_all(self) -> None:
        for worker in list(self.workers.values()):
            if worker.alive:
                await self.stop(worker)


class _Unreaped:
    """A worker process nothing waits for until it is stopped (subprocess.Popen, polled only then)."""

    def __init__(self, popen: subprocess.Popen[bytes], stderr: asyncio.StreamReader) -> None:
        self._popen, self.stderr = popen, stderr
        self.pid = popen.pid

    async def wait(self) -> int:
        while (code := self._popen.poll()) is None:
            await asyncio.sleep(0.01)
        return code


class LeavesZombies(Supervisor):
    """Notices that a worker died when its stderr closes, but reaps it only when asked to stop it: a
    worker that dies on its own stays a zombie."""

    async def start(self, request: SpawnRequest, model_path: Path, callback_url: str) -> Worker:
        worker_id = f"worker-{uuid.uuid4().hex[:12]}"
        port = free_port()
        scratch = self.temp_dir / worker_id
        scratch.mkdir(parents=True, exist_ok=True)
        popen = subprocess.Popen(self.argv(worker_id, request, model_path, port, callback_url),
                                 env={**os.environ, **self.env, "TMPDIR": str(scratch)}, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        assert popen.stderr is not None
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), popen.stderr)
        worker = Worker(worker_id, request, port, scratch, _Unreaped(popen, reader),  # type: ignore[arg-type]
                        self.slots_per_worker)
        self.workers[worker_id] = worker
        self._watch(worker)
        return worker

    async def _await_exit(self, worker: Worker) -> None:
        await worker.stderr_closed.wait()
        if not worker.stopping:     # died on its own: taken off the books, never waited for
            worker.exit_code = -1
        else:
            worker.exit_code = self.status_of(await worker.process.wait())
        self.remove_scratch(worker)
        worker.ended.set()
        worker.became_ready.set()
        self.on_change()


# -- inference ------------------------------------------------------------------------------------


class GpuFaultIsInferenceFailed(WorkerCall):
    """A GPU error the worker reports in band becomes INFERENCE_FAILED: its code is lost."""

    def in_band(self, event: dict[str, Any]) -> WorkerFailed:
        return super().in_band({**event, "code": "WORKER_ERROR"})


class NoCorrelationToWorker(WorkerCall):
    def headers(self) -> dict[str, str]:
        return {}


class OffByOneLimiter(SlotLimiter):
    def capacity(self, workers: list[Worker]) -> int:
        return super().capacity(workers) + 1


class OneShortLimiter(SlotLimiter):
    """`in_use + 1 >= capacity`: turns away the request that would take the last place."""

    def capacity(self, workers: list[Worker]) -> int:
        return super().capacity(workers) - 1


class QueueIgnored(SlotLimiter):
    """The configured queue never reaches the limiter: capacity is the worker slots alone."""

    def capacity(self, workers: list[Worker]) -> int:
        return sum(w.slots_total for w in workers)


class QueueNotHeld(SlotLimiter):
    """Counts queued requests against capacity, but sends them to a busy worker at once."""

    def _free(self, model: ModelRef | None) -> Worker | None:
        candidates = self.candidates(model)
        return min(candidates, key=lambda w: w.active) if candidates else None


class CountsTheRejectedRequest(SlotLimiter):
    """details.current_requests includes the request being turned away."""

    def _busy(self, model: ModelRef | None) -> ServiceError:
        error = super()._busy(model)
        if self.candidates(model):
            error.details["current_requests"] += 1
        return error


class WaitsBeforeRejecting(SlotLimiter):
    """At capacity, waits 2 s for a slot to free before turning the request away."""

    clock = ScaledClock()

    @asynccontextmanager
    async def slot(self, model: ModelRef | None) -> AsyncIterator[Worker]:
        workers = self.candidates(model)
        if workers and sum(w.active for w in workers) + self.waiting >= self.capacity(workers):
            await self.clock.sleep(2.0)
        async with super().slot(model) as worker:
            yield worker


class WaitingLimiterHive(Hive):
    """Gives the limiter the hive's clock (limiters are built without one)."""

    def __init__(self, config: HiveConfig, clock: ScaledClock, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, clock, *args, **kwargs)
        if isinstance(self.limiter, WaitsBeforeRejecting):
            self.limiter.clock = clock


class RoutesToDeadWorkers(SlotLimiter):
    """Routes to every worker that became ready and is not being stopped, whether it still lives or not."""

    def candidates(self, model: ModelRef | None) -> list[Worker]:
        return [w for w in self._workers() if w.ready and not w.stopping
                and (model is None or w.request.model == model)]


# -- route handlers ---------------------------------------------------------------------------------


class MissingTokenForbidden(Authenticator):
    """A request without a token is answered 403, like one with a wrong token."""

    def check(self, authorization: str) -> None:
        if not authorization[7:].strip() or authorization[:7].lower() != "bearer ":
            raise ServiceError("FORBIDDEN", "access denied", {"suggested_action": "Send a valid bearer token"})
        super().check(authorization)


class _WrongTokenAnsweredOtherwise(Authenticator):
    """The 403 a wrong token gets, replaced by what `instead` says."""

    def check(self, authorization: str) -> None:
        try:
            super().check(authorization)
        except ServiceError as error:
            if error.code != "FORBIDDEN":
                raise
            raise self.instead(authorization, error) from None

    def instead(self, authorization: str, error: ServiceError) -> ServiceError:
        raise NotImplementedError


class WrongTokenUnauthorized(_WrongTokenAnsweredOtherwise):
    """A wrong token is answered 401, like a missing one."""

    def instead(self, authorization: str, error: ServiceError) -> ServiceError:
        return ServiceError("UNAUTHORIZED", "not authorised", {"suggested_action": "Send a valid bearer token"},
                            headers={"WWW-Authenticate": "Bearer"})


class ForbiddenEchoesToken(_WrongTokenAnsweredOtherwise):
    """The 403 says which token it refused."""

    def instead(self, authorization: str, error: ServiceError) -> ServiceError:
        return ServiceError("FORBIDDEN", f"the bearer token {authorization[7:].strip()!r} is not valid",
                            error.details)


class LogsRequestBodies(Hive):
    """Logs every request body it parses at INFO, as a debugging aid left on."""

    async def body(self, request: Request) -> dict[str, Any]:
        raw = await super().body(request)
        log.info("%s %s body=%s", request.method, request.url.path, raw)
        return raw


class HealthNeedsTokenWithWorkers(Hive):
    """Once it has workers, health lists them, and asks for the token that listing needs."""

    async def health(self, request: Request) -> Response:
        if not self.supervisor.live():
            return await super().health(request)
        self.authorise(request)
        return JSONResponse({"status": "alive", "workers": [w.info() for w in self.supervisor.live()]})


class HealthDegraded(Hive):
    """Health answers 503 "degraded" while the hub breaker is open or every slot is taken."""

    async def health(self, request: Request) -> Response:
        workers = self.limiter.candidates(None)
        full = bool(workers) and all(w.active >= w.slots_total for w in workers)
        if self.breaker.state is not State.CLOSED or full:
            return JSONResponse({"status": "degraded"}, status_code=503)
        return await super().health(request)


class ListWithoutAuth(Hive):
    """GET /v1/workers/list is taken for a read-only route and left public."""

    async def list_workers(self, request: Request) -> Response:
        return JSONResponse({"workers": [w.info() for w in self.supervisor.workers.values()],
                             "queue": {"waiting": self.limiter.waiting, "max_queue": self.config.limits.max_queue}})


class AuthorisesAfterWork(Hive):
    """Download and spawn check the token only when answering, after the work is done."""

    async def download(self, request: Request) -> Response:
        ref = self.validator.model_ref(await self.body(request))
        info, cached = await self.models.ensure(ref, correlation_id(request))
        self.authorise(request)
        return JSONResponse({"download_id": "cached" if cached else "complete", "model_ref": ref.text,
                             "local_path": str(self.models.path(ref, info))})

    async def spawn(self, request: Request) -> Response:
        spawn = self.validator.spawn(await self.body(request))
        worker = await self.spawner.spawn(spawn, correlation_id(request))
        self.authorise(request)
        return JSONResponse({"worker_id": worker.id, "url": worker.url, "state": str(worker.state), "pid": worker.pid})


class LogsConfigWithToken(Hive):
    """Logs its whole configuration at start, the API token with it."""

    def __init__(self, config: HiveConfig, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        log.info("configuration: %s", config)


class UnknownWorkerIsNotFound(Hive):
    """An unknown worker id is the generic 404 NOT_FOUND."""

    def worker(self, worker_id: str) -> Worker:
        found = self.supervisor.workers.get(worker_id)
        if found is None:
            raise ServiceError("NOT_FOUND", "no such worker", {"suggested_action": "List the workers"})
        return found


class HungWorkerNotStopped(Hive):
    """Answers 504 for a hung worker and routes around it, but never stops it."""

    def _release_after(self, failure: WorkerFailed, worker: Worker) -> None:
        if failure.hung:
            worker.stopping = True


class HungWorkerStoppedLate(Hive):
    """Stops a hung worker 8 s after its inference timed out (inside twice the cleanup timeout)."""

    late: set[asyncio.Task[None]] = set()

    def _release_after(self, failure: WorkerFailed, worker: Worker) -> None:
        if not failure.hung:
            return
        worker.stopping = True

        async def later() -> None:
            await self.clock.sleep(8.0)
            await self.supervisor.stop(worker)

        task = asyncio.get_running_loop().create_task(later())
        self.late.add(task)
        task.add_done_callback(self.late.discard)


class RetriesGpuFaultInference(Hive):
    """Takes a GPU error during a buffered inference for a passing one and tries it once more."""

    async def _start(self, wanted: Any, held: AsyncExitStack, cid: str) -> Response | Streaming:
        try:
            return await super()._start(wanted, held, cid)
        except ServiceError as error:
            if wanted.stream or not is_gpu_failure(error):
                raise
            log.warning("GPU error during inference (%s); trying once more", error.code)
            await held.aclose()
            return await super()._start(wanted, held, cid)


WORKER_FAILURE_CODES = frozenset({"WORKER_CRASHED", INFERENCE_FAILED, "GPU_VRAM_EXHAUSTED", CUDA_DEVICE_FAILED})


class SlotKeptOnWorkerError(Hive):
    """When the worker fails an inference, the error path never gives the slot back."""

    kept: list[AsyncExitStack] = []

    async def _start(self, wanted: Any, held: AsyncExitStack, cid: str) -> Response | Streaming:
        try:
            return await super()._start(wanted, held, cid)
        except ServiceError as error:
            if error.code in WORKER_FAILURE_CODES:
                self.kept.append(held.pop_all())
            raise


class QueuePlaceKeptOnTimeout(Hive):
    """An inference that times out stays counted among the requests in flight: its place is never
    given back, so the hive's capacity shrinks by one with every timeout."""

    def _release_after(self, failure: WorkerFailed, worker: Worker) -> None:
        if failure.hung:
            self.limiter.waiting += 1
        super()._release_after(failure, worker)


class SlotKeptOnDisconnect(Hive):
    """A client that hangs up gets its worker connection closed, but its slot is never returned."""

    kept: list[AsyncExitStack] = []
    _left: set[int] = set()     # the requests (their `held` stacks) whose client hung up

    async def _take_slot(self, wanted: Any, held: AsyncExitStack) -> Worker:
        slot = AsyncExitStack()
        worker: Worker = await slot.enter_async_context(self.limiter.slot(wanted.model))
        held.push_async_callback(self._give_back, slot, id(held))
        return worker

    async def _give_back(self, slot: AsyncExitStack, request: int) -> None:
        if request in self._left:
            self._left.discard(request)
            self.kept.append(slot)
        else:
            await slot.aclose()

    async def _start(self, wanted: Any, held: AsyncExitStack, cid: str) -> Response | Streaming:
        try:
            return await super()._start(wanted, held, cid)
        except asyncio.CancelledError:   # the client left (reference.common.http.unless_disconnected)
            self._left.add(id(held))
            raise


class IgnoresDisconnect(Hive):
    """Does not watch a client while its inference is starting: one that hangs up before its answer
    is noticed only when the worker answers (or the inference times out)."""

    async def inference(self, request: Request) -> Response:
        self.authorise(request)
        wanted = self.validator.inference(await self.body(request))
        cid = correlation_id(request)
        held = AsyncExitStack()
        try:
            started = await self._start(wanted, held, cid)
        except BaseException:
            await held.aclose()
            raise
        if not isinstance(started, Streaming):
            await held.aclose()
            return started
        return StreamingResponse(self._relay(started, held, cid), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Correlation-ID": cid})


class CommitsBeforeFirstToken(Hive):
    """Commits a streamed inference to 200 as soon as the worker answers, before its first token."""

    async def _start(self, wanted: Any, held: AsyncExitStack, cid: str) -> Response | Streaming:
        if not wanted.stream:
            return await super()._start(wanted, held, cid)
        worker = await held.enter_async_context(self.limiter.slot(wanted.model))
        call = self.parts.worker_call(self.client, worker, wanted, self.clock, self.config.timeouts.inference, cid)
        held.push_async_callback(call.close)
        try:
            await call.open()
        except WorkerFailed as failure:
            raise failure.error from None
        return Streaming(worker, [{"type": "started", "worker_id": worker.id}], call.events())


class _Relaying(Hive):
    """The reference relay, with the ends of a stream as hooks."""

    async def _relay(self, stream: Streaming, held: AsyncExitStack, cid: str) -> AsyncIterator[bytes]:
        try:
            for event in stream.head:
                if event.get("type") != "end" or self.relays_end():
                    yield render.sse(event)
            if stream.head[-1].get("type") != "end":
                async for event in stream.events:
                    if event.get("type") != "end" or self.relays_end():
                        yield render.sse(event)
            yield render.DONE
        except WorkerFailed as failure:
            self._release_after(failure, stream.worker)
            async for chunk in self.after_failure(failure, stream, cid):
                yield chunk
        finally:
            await held.aclose()

    def relays_end(self) -> bool:
        return True

    async def after_failure(self, failure: WorkerFailed, stream: Streaming, cid: str) -> AsyncIterator[bytes]:
        yield self.parts.error_event(failure.error, cid)
        yield render.DONE


class EndsWithoutEndEvent(_Relaying):
    """Drops the worker's end event and closes a successful stream with [DONE] alone."""

    def relays_end(self) -> bool:
        return False


class ErrorThenEnd(_Relaying):
    """After the error event, the stream's common closing path sends an end event too."""

    async def after_failure(self, failure: WorkerFailed, stream: Streaming, cid: str) -> AsyncIterator[bytes]:
        yield self.parts.error_event(failure.error, cid)
        yield render.sse({"type": "end", "tokens_out": 0, "stop_reason": "ERROR"})
        yield render.DONE


class TimedOutStreamJustCloses(_Relaying):
    """A streamed inference that times out is closed without a terminal event."""

    async def after_failure(self, failure: WorkerFailed, stream: Streaming, cid: str) -> AsyncIterator[bytes]:
        if not failure.hung:
            async for chunk in super().after_failure(failure, stream, cid):
                yield chunk


class RetriesStreamOnAnotherWorker(_Relaying):
    """A stream whose worker crashes is started again on another worker, from its first token."""

    async def after_failure(self, failure: WorkerFailed, stream: Streaming, cid: str) -> AsyncIterator[bytes]:
        other = [w for w in self.limiter.candidates(None) if w is not stream.worker and w.active < w.slots_total]
        if not other:
            async for chunk in super().after_failure(failure, stream, cid):
                yield chunk
            return
        worker = other[0]
        worker.active += 1
        call = self.parts.worker_call(self.client, worker, self._retried, self.clock,
                                      self.config.timeouts.inference, cid)
        try:
            await call.open()
            async for event in call.events():
                yield render.sse(event)
            yield render.DONE
        except WorkerFailed as again:
            yield self.parts.error_event(again.error, cid)
            yield render.DONE
        finally:
            await call.close()
            worker.active -= 1

    async def _start(self, wanted: Any, held: AsyncExitStack, cid: str) -> Response | Streaming:
        self._retried = wanted
        return await super()._start(wanted, held, cid)


class _SpawnRefusalNamedOtherwise(Validator):
    """A refused spawn request's named fields, replaced by what `fields` says."""

    def spawn(self, raw: dict[str, Any]) -> SpawnRequest:
        try:
            return super().spawn(raw)
        except ServiceError as error:
            raise invalid(self.fields(raw, error.details.get("fields") or {})) from None

    def fields(self, raw: dict[str, Any], named: dict[str, str]) -> dict[str, str]:
        raise NotImplementedError


class NamesFirstFieldOnly(_SpawnRefusalNamedOtherwise):
    """Validation stops at the first bad field."""

    def fields(self, raw: dict[str, Any], named: dict[str, str]) -> dict[str, str]:
        return dict(list(named.items())[:1])


class EchoesInvalidValues(_SpawnRefusalNamedOtherwise):
    """Quotes the value it refused in details.fields."""

    def fields(self, raw: dict[str, Any], named: dict[str, str]) -> dict[str, str]:
        return {k: f"{raw.get(k)!r}: {v}" for k, v in named.items()}


class UnnamedMalformedJson(Validator):
    """Malformed JSON is a validation error that names no field."""

    def json_object(self, body: bytes) -> dict[str, Any]:
        try:
            return super().json_object(body)
        except ServiceError:
            raise invalid({}) from None


class UnicodeModelRef(Validator):
    """Model references matched with Unicode word characters (\\w): "hf:acme/tïny-chat" passes."""

    LOOSE = re.compile(r"^([a-z][a-z0-9_-]{0,31}):(\w[\w.-]{0,95})/(\w[\w.-]{0,95})$")

    def model_ref(self, raw: dict[str, Any]) -> ModelRef:
        value = raw.get("model_ref")
        match = self.LOOSE.match(value) if isinstance(value, str) else None
        if match is None or ".." in str(value) or match.group(1) != "hf":
            return parse_model_ref(raw)
        return ModelRef(match.group(1), match.group(2), match.group(3))

    def spawn(self, raw: dict[str, Any]) -> SpawnRequest:
        ref = self.model_ref(raw)
        return dataclasses.replace(super().spawn({**raw, "model_ref": "hf:acme/placeholder"}), model=ref)


class DeviceTruncated(Validator):
    """The device is passed through int(): 1.5 becomes device 1."""

    def spawn(self, raw: dict[str, Any]) -> SpawnRequest:
        device = raw.get("device")
        if isinstance(device, float) and device >= 0:
            raw = {**raw, "device": int(device)}
        return super().spawn(raw)


class WorkerIdUnchecked(Validator):
    """Any non-empty string is a worker id: a hostile one is looked up, and not found."""

    def worker_id(self, raw: dict[str, Any]) -> str:
        value = raw.get("worker_id")
        if isinstance(value, str) and value:
            return value
        return super().worker_id(raw)


class CrashesOnOddModelRef(Validator):
    """Checks `model_ref.isascii()` before its type: a number or a list there is a 500."""

    def spawn(self, raw: dict[str, Any]) -> SpawnRequest:
        value = raw.get("model_ref")
        if value is not None and not value.isascii():
            raise invalid({"model_ref": "must be ASCII"})
        return super().spawn(raw)


# -- rendering: the envelope, statuses, headers, stream error events --------------------------------


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def no_retry_after(error: ServiceError, correlation_id: str) -> Response:
    body = error.envelope(correlation_id)
    if error.status == 503:
        body["error"]["details"].pop("retry_after_seconds", None)
    return JSONResponse(body, status_code=error.status, headers={"X-Correlation-ID": correlation_id})


def retry_after_date(error: ServiceError, correlation_id: str) -> Response:
    """Retry-After as an HTTP-date (RFC 9110 allows it; the clause asks for whole seconds)."""
    response = render.error_response(error, correlation_id)
    seconds = error.details.get("retry_after_seconds")
    if "retry-after" in response.headers and isinstance(seconds, (int, float)):
        response.headers["Retry-After"] = formatdate(time.time() + math.ceil(seconds), usegmt=True)
    return response


def with_status(code: str, status: int) -> Callable[[ServiceError, str], Response]:
    def respond(error: ServiceError, cid: str) -> Response:
        response = render.error_response(error, cid)
        if error.code == code:
            response.status_code = status
        return response
    return respond


def recoded(old: str, new: str) -> Callable[[ServiceError, str], Response]:
    """Answers `old` as `new`, with `new`'s status and headers, details kept."""

    def respond(error: ServiceError, cid: str) -> Response:
        if error.code == old:
            error = ServiceError(new, error.message, error.details, error.headers)
        return render.error_response(error, cid)
    return respond


def drops_empty_details(error: ServiceError, cid: str) -> Response:
    """Leaves out detail keys whose value is null or an empty list."""
    body = error.envelope(cid)
    body["error"]["details"] = {k: v for k, v in error.details.items() if v not in (None, [], {})}
    response = render.error_response(error, cid)
    return _json(error.status, body, {k: v for k, v in response.headers.items()
                                      if k.lower() not in ("content-length", "content-type")})


def router_errors_without_details(error: ServiceError, cid: str) -> Response:
    """A hand-written 404/405 handler: {"error": {"code", "message", "correlation_id"}}, no details."""
    if error.code == "METHOD_NOT_ALLOWED" or error.code == "NOT_FOUND" and error.message.startswith("no route"):
        return _json(error.status, {"error": {"code": error.code, "message": error.message, "correlation_id": cid}},
                     {"X-Correlation-ID": cid})
    return render.error_response(error, cid)


def plain_404(error: ServiceError, cid: str) -> Response:
    """Starlette's own plain-text 404 for routes it does not know."""
    if error.code == "NOT_FOUND" and error.message.startswith("no route"):
        return PlainTextResponse("Not Found", status_code=404, headers={"X-Correlation-ID": cid})
    return render.error_response(error, cid)


def method_not_allowed_as_not_found(error: ServiceError, cid: str) -> Response:
    if error.code != "METHOD_NOT_ALLOWED":
        return render.error_response(error, cid)
    return render.error_response(ServiceError("NOT_FOUND", error.message, {"suggested_action": "Check the path"}), cid)


def crash_without_worker(error: ServiceError, cid: str) -> Response:
    """WORKER_CRASHED with details.worker_id null: the worker is no longer known when the error is drawn."""
    if error.code == "WORKER_CRASHED":
        error = ServiceError(error.code, error.message, {**error.details, "worker_id": None}, error.headers)
    return render.error_response(error, cid)


def crash_without_delivered_text(error: ServiceError, cid: str) -> Response:
    if error.code == "WORKER_CRASHED":
        details = {k: v for k, v in error.details.items() if k not in ("delivered_text", "delivered_tokens")}
        error = ServiceError(error.code, error.message, details, error.headers)
    return render.error_response(error, cid)


def short_delivered_text(error: ServiceError, cid: str) -> bytes:
    """The terminal event's delivered_text leaves out the last token, which was counted after the error."""
    text = str(error.details.get("delivered_text") or "")
    pieces = text.split(" ")
    shorter = " ".join(pieces[:-2] + [""]) if len(pieces) > 2 else ""
    return render.error_event(ServiceError(error.code, error.message, {**error.details, "delivered_text": shorter},
                                           error.headers), cid)


def timeout_event_without_text(error: ServiceError, cid: str) -> bytes:
    if error.code == "INFERENCE_TIMEOUT":
        error = ServiceError(error.code, error.message, {**error.details, "delivered_text": ""}, error.headers)
    return render.error_event(error, cid)


def rbee_shape_only(error: ServiceError, cid: str) -> bytes:
    """rbee's own {"type": "error", "code", "message"}, without the envelope under "error"."""
    return render.sse({"type": "error", "code": error.code, "message": error.message})


class SecondCorrelationId(CorrelationIdMiddleware):
    """Without a client id, the header gets one generated id and the error envelope another."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or CORRELATION_HEADER.encode() in dict(scope["headers"]):
            await super().__call__(scope, receive, send)
            return
        header_id = uuid.uuid4().hex

        async def send_with_other_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != CORRELATION_HEADER.encode()]
                message = {**message, "headers": [*headers, (CORRELATION_HEADER.encode(), header_id.encode())]}
            await send(message)

        await super().__call__(scope, receive, send_with_other_id)


# -- the daemon -----------------------------------------------------------------------------------


def retries_gpu_check(config: HiveConfig, scale: float) -> ServiceError | None:
    """Waits for the GPU to come up: three checks, 1 s apart, before giving up."""
    for attempt in range(3):
        failure = unusable_device(config, scale)
        if failure is None or attempt == 2:
            return failure
        time.sleep(scale * 1.0)
    return None


