"""Deliberately broken hives: each defect swaps one component, and the suite must catch it.

`python -m reference.hive --defect NAME` (and the CLI, for its own defects) starts the reference
with that one part replaced; the self-validation tests prove the named scenarios fail against it.
"""

from __future__ import annotations

import dataclasses
import random

from starlette.responses import JSONResponse, Response

from reference.common.errors import ServiceError
from reference.common.breaker_defects import ConstantRetryAfter, HalfOpensAfter50s, NeverHalfOpens, SuccessKeepsCount
from reference.hive.classify import Classifier, Verdict
from reference.hive.cli import CliBehaviour
from reference.hive.components import Components
from reference.hive.config import HiveConfig
from reference.hive.gpu import GpuDevice, GpuPreflight
from reference.hive.limiter import SlotLimiter
from reference.hive.retry import RetryPolicy
from reference.hive.validation import SpawnRequest
from reference.hive.workers import Worker
from reference.common.defects import NO_JITTER_ACROSS_CALLS, Defect, SeededPerCall
from reference.common.defects import components_for as select


class RetriesPermanent(Classifier):
    def status(self, status: int) -> Verdict:
        return Verdict(retryable=True, counts_against_breaker=True)


class NoJitter(RetryPolicy):
    def jitter(self) -> float:
        return 0.0


class RetriesOpenBreaker(RetryPolicy):
    """Retries a download the open breaker rejected during its cooldown with the hub backoff, like a
    transient failure (a half-open breaker's rejection still fails at once)."""

    def retries_breaker_rejection(self, rejection: int, cooling_down: bool) -> bool:
        return cooling_down and self.should_retry(rejection)



class JitterByAttempt(RetryPolicy):
    """The jitter is a fixed function of the retry: 0.2, 0.4, 0.6, 0.8, 1.0 s."""

    def delay(self, retry: int) -> float:
        return self.base_delay(retry) + 0.2 * retry


class OffByOneLimiter(SlotLimiter):
    def capacity(self, workers: list[Worker]) -> int:
        return super().capacity(workers) + 1


class NoVramPreflight(GpuPreflight):
    async def check(self, device: int, required_mib: int | None, model: str) -> GpuDevice:
        return await super().check(device, None, model)


def _cpu_fallback(request: SpawnRequest, error: ServiceError) -> SpawnRequest | None:
    return dataclasses.replace(request, backend="cpu") if request.backend != "cpu" else None


def _other_device(request: SpawnRequest, error: ServiceError) -> SpawnRequest | None:
    return dataclasses.replace(request, device=request.device + 1)


def _same_again(request: SpawnRequest, error: ServiceError) -> SpawnRequest | None:
    return request


def _slow_inference(config: HiveConfig) -> HiveConfig:
    slower = dataclasses.replace(config.timeouts, inference=35.0, request=40.0)
    return dataclasses.replace(config, timeouts=slower)


def _inference_timeout_28s(config: HiveConfig) -> HiveConfig:
    """Still answers before the 30 s request timeout: only the worker's side of it tells."""
    return dataclasses.replace(config, timeouts=dataclasses.replace(config.timeouts, inference=28.0))


def _no_retry_after(error: ServiceError, correlation_id: str) -> Response:
    body = error.envelope(correlation_id)
    if error.status == 503:
        body["error"]["details"].pop("retry_after_seconds", None)
    return JSONResponse(body, status_code=error.status, headers={"X-Correlation-ID": correlation_id})


def _defect(description: str, clauses: tuple[str, ...], assertion: str = "", **parts: object) -> Defect[Components]:
    return Defect(description, clauses, Components(**parts), assertion)  # type: ignore[arg-type]


DEFECT_ENV = "FAULTLINE_HIVE_DEFECT"  # the same as --defect, for harnesses that set the environment
DEFECTS: dict[str, Defect[Components]] = {
    "cpu-fallback": _defect("retries a failed CUDA spawn with --backend cpu",
                            ("HIVE-GPU-002", "HIVE-GPU-004"), gpu_fallback=_cpu_fallback),
    "other-device": _defect("retries a failed CUDA spawn on device+1",
                            ("HIVE-GPU-003", "HIVE-GPU-004"), gpu_fallback=_other_device),
    "retries-gpu-failure": _defect("tries a failed CUDA spawn once more on the same device",
                                   ("HIVE-GPU-004",), gpu_fallback=_same_again),
    "no-vram-preflight": _defect("starts the worker without checking free VRAM", ("HIVE-GPU-005",),
                                 preflight=NoVramPreflight),
    "retries-permanent": _defect("retries hub 4xx (404) like transient failures", ("HIVE-RETRY-002",),
                                 classifier=RetriesPermanent),
    "no-jitter": _defect("hub retry delays without jitter", ("HIVE-RETRY-005",), NO_JITTER_ACROSS_CALLS,
                         retry_policy=lambda s: NoJitter(s, random.Random())),
    "jitter-seeded-per-call": _defect("each download's retries start a new random.Random(seed): every download "
                                      "the same sequence of jitter", ("HIVE-RETRY-005",), NO_JITTER_ACROSS_CALLS,
                                      retry_policy=lambda s: RetryPolicy(s, SeededPerCall())),
    "jitter-by-attempt": _defect("the jitter is a fixed function of the attempt (+ 0.2 n s)", ("HIVE-RETRY-005",),
                                 NO_JITTER_ACROSS_CALLS, retry_policy=lambda s: JitterByAttempt(s, random.Random())),
    "breaker-never-half-opens": _defect("the hub breaker stays open forever", ("HIVE-BREAKER-004",),
                                        breaker=NeverHalfOpens),
    "cooldown-50s": _defect("the hub breaker half-opens 50 s after opening instead of 60 s (its Retry-After still "
                            "counts down 60 s)", ("HIVE-BREAKER-003", "HIVE-BREAKER-004"),
                            assertion=r"probe shortly before its cooldown ends (was not rejected|reached)",
                            breaker=HalfOpensAfter50s),
    "constant-retry-after": _defect("the open hub breaker always answers Retry-After 60 (retry_after_seconds 60)",
                                    ("HIVE-BREAKER-007",),
                                    assertion=r"probe shortly before its cooldown ends carried Retry-After 60",
                                    breaker=ConstantRetryAfter),
    "retries-open-breaker": _defect("retries a download the open breaker rejected with the hub backoff instead of "
                                    "failing at once", ("HIVE-BREAKER-003",),
                                    assertion=r"probe right after it opened was answered after .* not at once",
                                    retry_policy=lambda s: RetriesOpenBreaker(s, random.Random())),
    "success-keeps-count": _defect("a successful download does not reset the consecutive-failure count",
                                   ("HIVE-BREAKER-008",), breaker=SuccessKeepsCount),
    "leaks-worker-on-sigterm": _defect("the daemon exits on SIGTERM without stopping its workers",
                                       ("HIVE-CLEANUP-003",), stop_workers_on_shutdown=False),
    "no-sigkill-escalation": _defect("a worker that ignores SIGTERM is never killed",
                                     ("HIVE-CLEANUP-005", "HIVE-EXIT-007"), escalate_to_sigkill=False),
    "capacity-off-by-one": _defect("admits one request more than its capacity",
                                   ("HIVE-LIMIT-001", "HIVE-LIMIT-002"), limiter=OffByOneLimiter),
    "inference-timeout-35s": _defect("inference timeout of 35 s instead of 25 s", ("HIVE-TIMEOUT-002",),
                                     configure=_slow_inference),
    "inference-timeout-28s": _defect("inference timeout of 28 s instead of 25 s (still inside the request timeout)",
                                     ("HIVE-TIMEOUT-002",), configure=_inference_timeout_28s,
                                     assertion=r"let go of the hung worker .* inference timeout allows"),
    "kill-grace-10s": _defect("a worker that ignores SIGTERM gets 10 s before SIGKILL, twice the cleanup timeout",
                              ("HIVE-CLEANUP-005",), term_grace=10.0,
                              assertion=r"stop took .* allowed|exited .* after the signal|still running after the "
                                        r"cleanup timeout"),
    "exit-0-on-timeout": _defect("the CLI exits 0 when a request timed out", ("HIVE-EXIT-003",),
                                 cli=CliBehaviour(timeout_exit_code=0)),
    "leaves-temp-files": _defect("partial downloads and worker scratch files stay in temp_dir",
                                 ("HIVE-CLEANUP-001", "HIVE-CLEANUP-008"), remove_temp_files=False),
    "503-without-retry-after": _defect("503 answers without Retry-After or retry_after_seconds",
                                       ("HIVE-VOC-003", "HIVE-LIMIT-002"), render_error=_no_retry_after),
}


def components_for(defect: str | None) -> Components:
    return select(DEFECTS, defect, Components)


__all__ = ["DEFECTS", "Defect", "components_for"]
