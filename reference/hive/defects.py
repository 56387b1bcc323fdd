"""Deliberately broken hives: each defect swaps one component, and the suite must catch it.

`python -m reference.hive --defect NAME` (and the CLI, for its own defects) starts the reference
with that one part replaced; the self-validation tests prove the named scenarios fail against it,
each on the check its `assertion` names.

Every defect is a boundary case: the smallest realistic violation of its clauses, the bug an
implementer actually writes (an off-by-one, a neighbouring exit code, a cooldown restarted by
every rejection, a slot kept on the error path), not a caricature far from the limit.
"""

from __future__ import annotations

import dataclasses
import random
import signal
from collections.abc import Callable
from typing import Any

from reference.common.breaker_defects import (ConstantRetryAfter, HalfOpenLetsAllThrough, HalfOpensAfter50s,
                                              NeverHalfOpens, SuccessKeepsCount)
from reference.common.defects import (NO_JITTER_ACROSS_CALLS, SAME_JITTER_WITHIN_CALLS, Defect, DrawnOncePerCall,
                                     SeededPerCall)
from reference.common.defects import components_for as select
from reference.hive.broken import (AbsentDeviceIsDefault, AlternativesUnfiltered, AttemptsCountRetries,
                                   AuthorisesAfterWork, BreakerPerAttempt, CappedAt8s, CommitsBeforeFirstToken,
                                   CooldownRestartsOnRejection, CountsTheRejectedRequest, cpu_fallback,
                                   cpu_fallback_on_oom, crash_without_delivered_text, crash_without_worker,
                                   CrashesOnOddModelRef, DeviceTruncated, drops_empty_details, EarlyExitIsSpawnFailed,
                                   EchoesInvalidValues, EndsWithoutEndEvent, ErrorThenEnd, FailedTrialKeepsOpening,
                                   FirstDeviceOnly, ForbiddenEchoesToken, GpuFaultIsInferenceFailed, HealthDegraded,
                                   HealthNeedsTokenWithWorkers, HungWorkerNotStopped, HungWorkerStoppedLate,
                                   IgnoresDisconnect, ImmediateRetries, JitterByAttempt, JitterUpTo2s,
                                   KeepsHubConnections, KilledReportedAsTerm, LeavesZombies, ListWithoutAuth,
                                   LogsConfigWithToken, LogsRequestBodies, LogsRetriesNotAttempts,
                                   LogsWithoutCorrelationId, method_not_allowed_as_not_found,
                                   MissingModelIsDownloadFailed, MissingTokenForbidden, NamesFirstFieldOnly,
                                   no_retry_after, NoCorrelationToHub, NoCorrelationToWorker, NoJitter,
                                   NonZeroExitIsOne, NotFoundCountsAgainstBreaker, NoVramPreflight, OffByOneLimiter,
                                   OneShortLimiter, OomAtLoadIsCudaFailure, other_device, PartialInModelsDir,
                                   plain_404, QueueIgnored, QueueNotHeld, QueuePlaceKeptOnTimeout, rbee_shape_only,
                                   ReadyTimeoutIs504, ReadyTimeoutLeaksWorker, recoded, ReportsTotalVram,
                                   retries_gpu_check, RetriesAll4xxBut404, RetriesGpuFaultInference,
                                   RetriesOpenBreaker, RetriesPermanent, RetriesStreamOnAnotherWorker,
                                   retry_after_date, RetryAfterFromFirstFailure, router_errors_without_details,
                                   RoutesToDeadWorkers, same_again, same_again_after_oom, ScratchRemovedOnlyOnStop,
                                   SecondCorrelationId, SequentialShutdown, short_delivered_text, SignalAsNegative,
                                   SlotKeptOnDisconnect, SlotKeptOnWorkerError, SpawnWrapsDownloadErrors,
                                   StallNotRetried, StopForgetsProcess, SuccessDecrementsCount, SymmetricJitter,
                                   TimedOutStreamJustCloses, timeout_event_without_text, Treats408AsPermanent,
                                   UnicodeModelRef, UnknownWorkerIsNotFound, UnnamedMalformedJson, VramAgainstTotal,
                                   WaitingLimiterHive, WaitsBeforeRejecting, with_status, WorkerIdUnchecked,
                                   WrongTokenUnauthorized)
from reference.hive.cli import CliBehaviour
from reference.hive.components import Components
from reference.hive.config import HiveConfig
from reference.hive.retry import RetryPolicy


def _policy(kind: type[RetryPolicy]) -> Callable[[Any], RetryPolicy]:
    return lambda settings: kind(settings, random.Random())


def _retries(max_retries: int = 5, multiplier: float = 2.0) -> Callable[[HiveConfig], HiveConfig]:
    def configure(config: HiveConfig) -> HiveConfig:
        return dataclasses.replace(config, retry=dataclasses.replace(config.retry, max_retries=max_retries,
                                                                     multiplier=multiplier))
    return configure


def _breaker(threshold: int) -> Callable[[HiveConfig], HiveConfig]:
    def configure(config: HiveConfig) -> HiveConfig:
        return dataclasses.replace(config, breaker=dataclasses.replace(config.breaker, threshold=threshold))
    return configure


def _configured(**changes: Any) -> Callable[[HiveConfig], HiveConfig]:
    """Changes to the config sections: `timeouts={...}`, `limits={...}`."""

    def configure(config: HiveConfig) -> HiveConfig:
        replaced = {name: dataclasses.replace(getattr(config, name), **values) for name, values in changes.items()}
        return dataclasses.replace(config, **replaced)
    return configure


def _defect(description: str, clauses: tuple[str, ...], assertion: str, **parts: object) -> Defect[Components]:
    return Defect(description, clauses, Components(**parts), assertion)  # type: ignore[arg-type]


NOT_ENVELOPE = r"not a conforming error envelope"
WORKER_NOT_GONE = r"to be gone"     # harness: the wait for a worker's process and port to go
TEMP_LEFT = r"left in the hive's temp dir"

DEFECTS: dict[str, Defect[Components]] = {
    # -- health ----------------------------------------------------------------------------------
    "health-needs-token-with-workers": _defect(
        "once it has workers, GET /v1/health lists them and asks for the bearer token", ("HIVE-HEALTH-001",),
        r"expected HTTP 200: GET \S+/v1/health -> 401", hive=HealthNeedsTokenWithWorkers),
    "health-degraded-503": _defect(
        "health answers 503 \"degraded\" while the hub breaker is open or every slot is taken",
        ("HIVE-HEALTH-002",), r"the health route: GET \S+/v1/health -> 503", hive=HealthDegraded),
    # -- envelope, vocabulary ------------------------------------------------------------------------
    "router-errors-without-details": _defect(
        "a hand-written 404/405 handler answers {code, message, correlation_id} without details",
        ("HIVE-ENV-001",), r"error\.details is (missing|not an object)", render_error=router_errors_without_details),
    "plain-404": _defect("an unknown route gets Starlette's plain-text 404", ("HIVE-ENV-002",),
                         NOT_ENVELOPE + r".*body is not JSON", render_error=plain_404),
    "logs-config-with-token": _defect("logs its configuration at start, the API token with it", ("HIVE-ENV-003",),
                                      r"the hive log contains the client's token", hive=LogsConfigWithToken),
    "forbidden-echoes-token": _defect("the 403 for a wrong token quotes the token it refused", ("HIVE-ENV-003",),
                                      r"echoed 'hive-wrong-token-17ce'", authenticator=ForbiddenEchoesToken),
    "logs-request-bodies": _defect("logs every request body at INFO", ("HIVE-ENV-003",),
                                   r"the hive log shows what the requests carried", hive=LogsRequestBodies),
    "echoes-invalid-value": _defect("validation errors quote the value they refused", ("HIVE-ENV-003",),
                                    r"echoed what the request carried", validator=EchoesInvalidValues),
    "second-correlation-id": _defect(
        "without a client id, the header and the error envelope carry two different generated ids",
        ("HIVE-ENV-004",), r"the header says \w+, the error says", middleware=SecondCorrelationId),
    "405-as-404": _defect("a known route called with a wrong method answers 404 NOT_FOUND", ("HIVE-ENV-005",),
                          r"expected code METHOD_NOT_ALLOWED", render_error=method_not_allowed_as_not_found),
    "vram-exhausted-507": _defect("GPU_VRAM_EXHAUSTED is sent with 507 Insufficient Storage", ("HIVE-VOC-001",),
                                  r"GPU_VRAM_EXHAUSTED must be sent with HTTP 500, got 507",
                                  render_error=with_status("GPU_VRAM_EXHAUSTED", 507)),
    "drops-empty-details": _defect(
        "detail keys whose value is null or an empty list are left out (no alternative_models when none fit)",
        ("HIVE-VOC-002",), r"details\.\w+ is missing \(required for", render_error=drops_empty_details),
    "503-without-retry-after": _defect("503 answers without details.retry_after_seconds",
                                       ("HIVE-VOC-003", "HIVE-LIMIT-002"), r"without details\.retry_after_seconds",
                                       render_error=no_retry_after),
    "retry-after-http-date": _defect("Retry-After is sent as an HTTP date", ("HIVE-VOC-003",),
                                     r"Retry-After .* is not a positive whole number|no usable Retry-After",
                                     render_error=retry_after_date),
    "model-not-found-as-download-failed": _defect(
        "every failed hub operation, a hub 404 included, answers 502 DOWNLOAD_FAILED", ("HIVE-VOC-004",),
        r"expected code MODEL_NOT_FOUND", hub=MissingModelIsDownloadFailed),
    "attempts-counts-retries": _defect("DOWNLOAD_FAILED's details.attempts counts the retries (5), not the attempts",
                                       ("HIVE-VOC-004",), r"details\.attempts is 5, expected 6",
                                       hub=AttemptsCountRetries),
    "unknown-worker-not-found": _defect("stopping an unknown worker id answers the generic 404 NOT_FOUND",
                                        ("HIVE-VOC-005",), r"expected code WORKER_NOT_FOUND",
                                        hive=UnknownWorkerIsNotFound),
    # -- auth ---------------------------------------------------------------------------------------
    "list-without-auth": _defect("GET /v1/workers/list is left public", ("HIVE-AUTH-001",),
                                 r"expected code UNAUTHORIZED: GET \S+/v1/workers/list -> 200", hive=ListWithoutAuth),
    "missing-token-403": _defect(
        "a request without a token answers 403 FORBIDDEN, like a wrong one", ("HIVE-AUTH-001",),
        r"expected code UNAUTHORIZED",
        authenticator=MissingTokenForbidden),
    "wrong-token-401": _defect("a wrong token answers 401 UNAUTHORIZED, like a missing one", ("HIVE-AUTH-002",),
                               r"expected code FORBIDDEN", authenticator=WrongTokenUnauthorized),
    "authorises-after-work": _defect("download and spawn check the token only after fetching the model and "
                                     "starting the worker", ("HIVE-AUTH-003",),
                                     r"the hub received 1 metadata request\(s\), expected 0|worker\(s\) started",
                                     hive=AuthorisesAfterWork),
    # -- input ----------------------------------------------------------------------------------------
    "malformed-json-unnamed": _defect("malformed JSON is a VALIDATION_ERROR that names no field", ("HIVE-INPUT-001",),
                                      r"field 'body' not named", validator=UnnamedMalformedJson),
    "validation-422": _defect("validation errors are sent with 422 (FastAPI's default)", ("HIVE-INPUT-002",),
                              r"VALIDATION_ERROR must be sent with HTTP 400, got 422",
                              render_error=with_status("VALIDATION_ERROR", 422)),
    "names-first-field-only": _defect("validation stops at the first bad field", ("HIVE-INPUT-002",),
                                      r"not named: \['backend', 'device'\]", validator=NamesFirstFieldOnly),
    "body-limit-2mib": _defect("the body limit is 2 MiB instead of 1 MiB", ("HIVE-INPUT-003",),
                               r"expected code PAYLOAD_TOO_LARGE",
                               configure=_configured(limits={"max_body_bytes": 2 << 20})),
    "body-limit-1mb": _defect("the body limit is 1 MB (1,000,000 bytes) instead of 1 MiB", ("HIVE-INPUT-003",),
                              r"details\.max_bytes is 1000000, expected 1048576|a body of exactly 1048576 bytes",
                              configure=_configured(limits={"max_body_bytes": 1_000_000})),
    "unicode-model-ref": _defect("model references are matched with Unicode word characters (hf:acme/tïny-chat passes)",
                                 ("HIVE-INPUT-004",), r"expected code VALIDATION_ERROR", validator=UnicodeModelRef),
    "worker-id-unchecked": _defect("any non-empty string is looked up as a worker id", ("HIVE-INPUT-004",),
                                   r"expected code VALIDATION_ERROR: POST \S+/v1/workers/stop",
                                   validator=WorkerIdUnchecked),
    "device-truncated": _defect("the device is passed through int(): 1.5 becomes device 1", ("HIVE-INPUT-005",),
                                r"expected code VALIDATION_ERROR", validator=DeviceTruncated),
    "crashes-on-odd-model-ref": _defect("checks model_ref.isascii() before its type: a number or list there is a 500",
                                        ("HIVE-INPUT-006",), r"answered with a server error or not at all",
                                        validator=CrashesOnOddModelRef),
    # -- exit codes -------------------------------------------------------------------------------------
    "cli-expects-ready-state": _defect("the CLI takes a spawned worker that is not in state \"ready\" for a failure "
                                       "(the hive says idle)", ("HIVE-EXIT-001",), r"the CLI exited 1, expected 0",
                                       cli=CliBehaviour(spawned_state="ready")),
    "cli-error-to-stdout": _defect("the CLI prints the error envelope on stdout", ("HIVE-EXIT-002",),
                                   r"not on stderr", cli=CliBehaviour(errors_to="stdout")),
    "cli-5xx-exit-255": _defect("the CLI exits 255 when the hive answers with a 5xx error", ("HIVE-EXIT-002",),
                                r"the CLI exited 255, expected 1", cli=CliBehaviour(server_error_exit_code=255)),
    "exit-0-on-timeout": _defect("the CLI exits 0 when a request timed out", ("HIVE-EXIT-003",),
                                 r"the CLI exited 0, expected 124", cli=CliBehaviour(timeout_exit_code=0)),
    "cli-timeout-exit-1": _defect("the CLI exits 1 when the hive answers INFERENCE_TIMEOUT (124 only for its own "
                                  "clock)", ("HIVE-EXIT-003",), r"the CLI exited 1, expected 124",
                                  cli=CliBehaviour(timeout_exit_code=1)),
    "cli-unreachable-exit-1": _defect("the CLI exits 1 when it cannot reach the hive", ("HIVE-EXIT-004",),
                                      r"the CLI exited 1, expected 255", cli=CliBehaviour(unreachable_exit_code=1)),
    "daemon-waits-for-gpu": _defect("the daemon checks its GPU three times, 1 s apart, before exiting 1",
                                    ("HIVE-EXIT-005",), r"after it first asked nvidia-smi",
                                    startup_gpu_check=retries_gpu_check),
    "daemon-gpu-exit-2": _defect("the daemon exits 2, as for a configuration error, when its GPU fails",
                                 ("HIVE-EXIT-005",), r"exit code 2", gpu_failure_exit_code=2),
    "nonzero-exit-as-1": _defect("every failed worker is reported with exit code 1", ("HIVE-EXIT-006",),
                                 r"hive says 1, journal says \[101\]", supervisor=NonZeroExitIsOne),
    "sigkill-reported-negative": _defect("a killed worker is reported with Python's returncode (-9), not 137",
                                         ("HIVE-EXIT-007",), r"expected exit_code 137", supervisor=SignalAsNegative),
    "killed-reported-143": _defect("a worker any signal ended is reported as 143 (128 + SIGTERM, the signal asked "
                                   "with)", ("HIVE-EXIT-007",), r"expected exit_code 137",
                                   supervisor=KilledReportedAsTerm),
    "shutdown-reraises-signal": _defect("after a graceful shutdown the daemon dies of the signal it got",
                                        ("HIVE-EXIT-008",), r"the hive exited with -(15|2)", reraise_stop_signal=True),
    # -- retries ----------------------------------------------------------------------------------------
    "stall-not-retried": _defect("a hub attempt that times out is not retried", ("HIVE-RETRY-001",),
                                 r"expected HTTP 200: POST \S+/v1/models/download -> 502", classifier=StallNotRetried),
    "408-not-retried": _defect("a hub 408 is taken for a permanent client error", ("HIVE-RETRY-001",),
                               r"expected HTTP 200: POST \S+/v1/models/download -> 502",
                               classifier=Treats408AsPermanent),
    "retries-permanent": _defect("retries hub 4xx (404) like transient failures", ("HIVE-RETRY-002",),
                                 r"the hub received \d+ metadata request\(s\), expected 1\b",
                                 classifier=RetriesPermanent),
    "retries-4xx-but-404": _defect("retries every hub 4xx but 404", ("HIVE-RETRY-002",),
                                   r"the hub received 6 metadata request\(s\), expected 1",
                                   classifier=RetriesAll4xxBut404),
    "one-retry-too-many": _defect("six retries (seven attempts) instead of five", ("HIVE-RETRY-003",),
                                  r"the hub received 7 metadata request\(s\), expected 6", configure=_retries(6)),
    "one-retry-too-few": _defect("four retries: \"max 5 attempts\" read as attempts", ("HIVE-RETRY-003",),
                                 r"the hub received 5 metadata request\(s\), expected 6", configure=_retries(4)),
    "multiplier-1.5": _defect("backoff multiplier 1.5 instead of 2 (1, 1.5, 2.25, 3.4, 5.1 s)", ("HIVE-RETRY-004",),
                              r"hub retry schedule broken: .*came too early", configure=_retries(multiplier=1.5)),
    "cap-at-8s": _defect("backoff capped at 8 s: the last retry waits 8 s instead of 16 s", ("HIVE-RETRY-004",),
                         r"hub retry schedule broken: attempt 6 came too early", retry_policy=_policy(CappedAt8s)),
    "symmetric-jitter": _defect("jitter of +/- 0.5 s around the base delay", ("HIVE-RETRY-004", "HIVE-RETRY-005"),
                                r"came too early", retry_policy=_policy(SymmetricJitter)),
    "jitter-up-to-2s": _defect("jitter drawn from [0, 2] s", ("HIVE-RETRY-004", "HIVE-RETRY-005"), r"came too late",
                               retry_policy=_policy(JitterUpTo2s)),
    "no-jitter": _defect("hub retry delays without jitter", ("HIVE-RETRY-005",), NO_JITTER_ACROSS_CALLS,
                         retry_policy=_policy(NoJitter)),
    "jitter-seeded-per-call": _defect("each download's retries start a new random.Random(seed): every download "
                                      "the same sequence of jitter", ("HIVE-RETRY-005",), NO_JITTER_ACROSS_CALLS,
                                      retry_policy=lambda s: RetryPolicy(s, SeededPerCall())),
    "jitter-once-per-download": _defect("each download draws its jitter once and adds it to every retry's delay",
                                  ("HIVE-RETRY-005",), SAME_JITTER_WITHIN_CALLS,
                                  retry_policy=lambda s: RetryPolicy(s, DrawnOncePerCall())),
    "jitter-by-attempt": _defect("the jitter is a fixed function of the attempt (+ 0.2 n s)", ("HIVE-RETRY-005",),
                                 NO_JITTER_ACROSS_CALLS, retry_policy=_policy(JitterByAttempt)),
    "spawn-download-without-backoff": _defect(
        "a spawn's model download retries at once, without the backoff", ("HIVE-RETRY-006",),
        r"hub retry schedule broken", spawn_retry_policy=_policy(ImmediateRetries)),
    # -- breaker ----------------------------------------------------------------------------------------
    "breaker-threshold-6": _defect("the hub breaker opens after 6 failed downloads", ("HIVE-BREAKER-001",),
                                   r"probe right after it opened (was not rejected|reached)",
                                   configure=_breaker(6)),
    "breaker-threshold-4": _defect("the hub breaker opens after 4 failed downloads", ("HIVE-BREAKER-001",),
                                   r"expected HTTP 200: .*CIRCUIT_BREAKER_OPEN", configure=_breaker(4)),
    "breaker-per-attempt": _defect("the breaker counts failed attempts, not downloads: it opens during the retries",
                                   ("HIVE-BREAKER-001",),
                                   r"the hub received \d+ metadata request\(s\), expected (?:31|50)\b",
                                   hub=BreakerPerAttempt),
    "not-found-counts-against-breaker": _defect("a hub 404 counts towards opening the breaker", ("HIVE-BREAKER-002",),
                                                r"the hub received 5 metadata request\(s\), expected 6",
                                                classifier=NotFoundCountsAgainstBreaker),
    "retries-open-breaker": _defect("retries a download the open breaker rejected with the hub backoff instead of "
                                    "failing at once", ("HIVE-BREAKER-003",),
                                    r"probe right after it opened was answered after .* not at once",
                                    retry_policy=_policy(RetriesOpenBreaker)),
    "spawn-wraps-breaker-rejection": _defect(
        "a spawn whose model download the open breaker rejects answers WORKER_SPAWN_FAILED",
        ("HIVE-BREAKER-003",), r"expected code CIRCUIT_BREAKER_OPEN: POST \S+/v1/workers/spawn",
        spawner=SpawnWrapsDownloadErrors),
    "cooldown-50s": _defect("the hub breaker half-opens 50 s after opening instead of 60 s (its Retry-After still "
                            "counts down 60 s)", ("HIVE-BREAKER-003", "HIVE-BREAKER-004"),
                            r"probe shortly before its cooldown ends (was not rejected|reached)",
                            breaker=HalfOpensAfter50s),
    "breaker-never-half-opens": _defect("the hub breaker stays open forever", ("HIVE-BREAKER-004",),
                                        r"expected HTTP 200: POST \S+/v1/models/download -> 503",
                                        breaker=NeverHalfOpens),
    "cooldown-restarts-on-rejection": _defect("every call the open breaker rejects starts its cooldown again",
                                              ("HIVE-BREAKER-004",),
                                              r"expected HTTP 200: POST \S+/v1/models/download -> 503",
                                              breaker=CooldownRestartsOnRejection),
    "failed-trial-keeps-opening": _defect("a failed trial reopens the breaker with the first opening's cooldown, "
                                          "already over", ("HIVE-BREAKER-005",),
                                          r"metadata request\(s\), expected 36", breaker=FailedTrialKeepsOpening),
    "half-open-lets-all-through": _defect("the half-open breaker lets every call through, not one trial",
                                          ("HIVE-BREAKER-006",), r"metadata request\(s\), expected 31",
                                          breaker=HalfOpenLetsAllThrough),
    "constant-retry-after": _defect("the open hub breaker always answers Retry-After 60 (retry_after_seconds 60)",
                                    ("HIVE-BREAKER-007",),
                                    r"probe shortly before its cooldown ends carried Retry-After 60",
                                    breaker=ConstantRetryAfter),
    "retry-after-from-first-failure": _defect("Retry-After counts the cooldown from the first failure of the "
                                              "downloads that opened the breaker", ("HIVE-BREAKER-007",),
                                              r"carried Retry-After \d+, but", breaker=RetryAfterFromFirstFailure),
    "success-keeps-count": _defect("a successful download does not reset the consecutive-failure count",
                                   ("HIVE-BREAKER-008",), r"expected HTTP 200", breaker=SuccessKeepsCount),
    "success-decrements-count": _defect("a successful download takes one off the failure count instead of "
                                        "resetting it", ("HIVE-BREAKER-008",), r"expected HTTP 200",
                                        breaker=SuccessDecrementsCount),
    # -- GPU ------------------------------------------------------------------------------------------
    "absent-device-as-default": _defect("an absent CUDA device is reported as device 0", ("HIVE-GPU-001",),
                                        r"details\.device is 0, expected 5", preflight=AbsentDeviceIsDefault),
    "early-exit-as-spawn-failed": _defect(
        "a worker that exits before it is ready is WORKER_SPAWN_FAILED, whatever GPU error it printed",
        ("HIVE-GPU-001", "HIVE-GPU-006"), r"expected code (CUDA_DEVICE_FAILED|GPU_VRAM_EXHAUSTED)",
        spawner=EarlyExitIsSpawnFailed),
    "cpu-fallback": _defect("retries a failed CUDA spawn with --backend cpu", ("HIVE-GPU-002", "HIVE-GPU-004"),
                            r"worker\(s\) started on cpu", gpu_fallback=cpu_fallback),
    "cpu-fallback-on-oom": _defect("a model that does not fit in VRAM while loading is started on the CPU",
                                   ("HIVE-GPU-002",), r"worker\(s\) started on cpu", gpu_fallback=cpu_fallback_on_oom),
    "other-device": _defect("retries a failed CUDA spawn on device+1", ("HIVE-GPU-003", "HIVE-GPU-004"),
                            r"workers started on devices \[0, 1\]", gpu_fallback=other_device),
    "retries-gpu-failure": _defect("tries a failed CUDA spawn once more on the same device", ("HIVE-GPU-004",),
                                   r"worker starts: the failure was retried", gpu_fallback=same_again),
    "retries-oom-at-load": _defect("tries a spawn that ran out of VRAM loading once more", ("HIVE-GPU-004",),
                                   r"worker starts: the failure was retried", gpu_fallback=same_again_after_oom),
    "no-vram-preflight": _defect("starts the worker without checking free VRAM", ("HIVE-GPU-005",),
                                 r"worker\(s\) started", preflight=NoVramPreflight),
    "vram-against-total": _defect("compares the model's VRAM need with the device's total, not its free VRAM",
                                  ("HIVE-GPU-005",), r"worker\(s\) started", preflight=VramAgainstTotal),
    "oom-at-load-as-cuda-failed": _defect("a worker out of VRAM while loading is reported CUDA_DEVICE_FAILED",
                                          ("HIVE-GPU-006",), r"expected code GPU_VRAM_EXHAUSTED",
                                          spawner=OomAtLoadIsCudaFailure),
    "alternatives-unfiltered": _defect("lists every known model as an alternative, whether it fits or not",
                                       ("HIVE-GPU-007",), r"alternatives that do not fit",
                                       spawner=AlternativesUnfiltered),
    "available-vram-total": _defect("reports the device's total VRAM as available_vram_mib", ("HIVE-GPU-007",),
                                    r"VRAM details say .*81920", preflight=ReportsTotalVram),
    "gpu-fault-as-inference-failed": _defect("a GPU error during inference is reported INFERENCE_FAILED",
                                             ("HIVE-GPU-008",), r"expected (code )?GPU_VRAM_EXHAUSTED",
                                             worker_call=GpuFaultIsInferenceFailed),
    "retries-gpu-fault-inference": _defect("a buffered inference that hits a GPU error is tried once more",
                                           ("HIVE-GPU-008",), r"2 inference\(s\) reached a worker, expected 1",
                                           hive=RetriesGpuFaultInference),
    "first-device-only": _defect("every worker is started with --device 0, whatever was requested",
                                 ("HIVE-GPU-009",), r"expected 1 on cuda device 1", supervisor=FirstDeviceOnly),
    # -- cleanup --------------------------------------------------------------------------------------
    "stop-forgets-process": _defect("stopping a worker takes it off the books without signalling its process",
                                    ("HIVE-CLEANUP-001",), WORKER_NOT_GONE, supervisor=StopForgetsProcess),
    "leaves-temp-files": _defect("partial downloads and worker scratch files stay in temp_dir",
                                 ("HIVE-CLEANUP-001", "HIVE-CLEANUP-008"), TEMP_LEFT, remove_temp_files=False),
    "ready-timeout-leaks-worker": _defect("answers WORKER_SPAWN_FAILED when no ready callback comes but leaves the "
                                          "worker running", ("HIVE-CLEANUP-002", "HIVE-TIMEOUT-005"),
                                          r"every worker process to be gone", spawner=ReadyTimeoutLeaksWorker),
    "scratch-removed-only-on-stop": _defect("a worker's scratch files are removed when the hive stops it, not when it "
                                            "ends on its own", ("HIVE-CLEANUP-002", "HIVE-CLEANUP-007"), TEMP_LEFT,
                                            supervisor=ScratchRemovedOnlyOnStop),
    "leaks-worker-on-sigterm": _defect("the daemon exits on SIGTERM without stopping its workers",
                                       ("HIVE-CLEANUP-003",), r"every worker process to be gone",
                                       stop_workers_on_shutdown=False),
    "sigint-unhandled": _defect("only SIGTERM is a graceful shutdown; SIGINT ends the daemon without stopping "
                                "its workers", ("HIVE-CLEANUP-004",), r"every worker process to be gone",
                                stop_signals=(signal.SIGTERM,)),
    "no-sigkill-escalation": _defect("a worker that ignores SIGTERM is never killed",
                                     ("HIVE-CLEANUP-005", "HIVE-EXIT-007"),
                                     r"stop took .* allowed|expected exit_code 137|still running after the cleanup "
                                     r"timeout", escalate_to_sigkill=False),
    "kill-grace-10s": _defect("a worker that ignores SIGTERM gets 10 s before SIGKILL, twice the cleanup timeout",
                              ("HIVE-CLEANUP-005",), r"stop took .* allowed|exited .* after the signal|still running "
                              r"after the cleanup timeout", term_grace=10.0),
    "kill-grace-6s": _defect("a worker that ignores SIGTERM gets 6 s before SIGKILL, 1 s over the cleanup timeout",
                             ("HIVE-CLEANUP-005",), r"stop took .* allowed|exited .* after the signal|still running "
                             r"after the cleanup timeout", term_grace=6.0),
    "sequential-shutdown": _defect("shuts its workers down one after the other, each with a 4 s SIGTERM grace",
                                   ("HIVE-CLEANUP-003", "HIVE-CLEANUP-005"),
                                   r"exited .* after the signal|still running after the cleanup timeout",
                                   supervisor=SequentialShutdown),
    "ignores-disconnect": _defect("a buffered inference's client that hangs up is noticed only when the worker "
                                  "answers", ("HIVE-CLEANUP-006",), r"connection close never observed|saw the "
                                  r"connection close .* after", hive=IgnoresDisconnect),
    "zombie-workers": _defect("a worker that dies on its own is noticed but never waited for: a zombie until stopped",
                              ("HIVE-CLEANUP-007",), WORKER_NOT_GONE, supervisor=LeavesZombies),
    "routes-to-dead-workers": _defect("routes to every worker that became ready, dead ones included",
                                      ("HIVE-CLEANUP-007",), r"routed to the dead one",
                                      limiter=RoutesToDeadWorkers),
    "partial-in-models-dir": _defect("downloads straight into the models directory; a failed download leaves "
                                     "its partial file there", ("HIVE-CLEANUP-008",), r"partial cop",
                                     hub=PartialInModelsDir),
    "keeps-hub-connections": _defect("keeps idle keep-alive connections to the hub after a download",
                                     ("HIVE-CLEANUP-008",), r"connections to the hub closed|still open",
                                     hub=KeepsHubConnections),
    # -- timeouts -------------------------------------------------------------------------------------
    "inference-timeout-20s": _defect("inference timeout of 20 s instead of 25 s", ("HIVE-TIMEOUT-001",),
                                     r"let go of the hung worker .* inference timeout allows",
                                     configure=_configured(timeouts={"inference": 20.0})),
    "inference-timeout-as-gateway-timeout": _defect("a hung worker's timeout is answered 504 GATEWAY_TIMEOUT",
                                                    ("HIVE-TIMEOUT-001",), r"expected code INFERENCE_TIMEOUT",
                                                    render_error=recoded("INFERENCE_TIMEOUT", "GATEWAY_TIMEOUT")),
    "inference-timeout-35s": _defect("inference timeout of 35 s instead of 25 s", ("HIVE-TIMEOUT-002",),
                                     r"let go of the hung worker .* inference timeout allows|answered after .* the "
                                     r"request timeout allows",
                                     configure=_configured(timeouts={"inference": 35.0, "request": 40.0})),
    "inference-timeout-28s": _defect("inference timeout of 28 s instead of 25 s (still inside the request timeout)",
                                     ("HIVE-TIMEOUT-002",), r"let go of the hung worker .* inference timeout allows",
                                     configure=_configured(timeouts={"inference": 28.0})),
    "timeout-event-without-text": _defect("a streamed inference's INFERENCE_TIMEOUT event carries an empty "
                                          "delivered_text", ("HIVE-TIMEOUT-003",), r"the error event says",
                                          error_event=timeout_event_without_text),
    "timed-out-stream-just-closes": _defect("a streamed inference that times out is closed without a terminal event",
                                            ("HIVE-TIMEOUT-003",), r"the last event is not an error event",
                                            hive=TimedOutStreamJustCloses),
    "hung-worker-not-stopped": _defect("answers 504 for a hung worker but leaves it running", ("HIVE-TIMEOUT-004",),
                                       WORKER_NOT_GONE, hive=HungWorkerNotStopped),
    "hung-worker-stopped-late": _defect("stops a hung worker 8 s after its inference timed out",
                                        ("HIVE-TIMEOUT-004",), WORKER_NOT_GONE, hive=HungWorkerStoppedLate),
    "ready-timeout-as-504": _defect("a worker that never calls back ready is answered 504 INFERENCE_TIMEOUT",
                                    ("HIVE-TIMEOUT-005",), r"expected code WORKER_SPAWN_FAILED",
                                    spawner=ReadyTimeoutIs504),
    # -- limits ---------------------------------------------------------------------------------------
    "capacity-off-by-one": _defect("admits one request more than its capacity", ("HIVE-LIMIT-001", "HIVE-LIMIT-002"),
                                   r"details say current_requests \d+ and max_concurrent \d+, expected 1 and 1|"
                                   r"expected code SERVICE_UNAVAILABLE", limiter=OffByOneLimiter),
    "capacity-one-short": _defect("turns away the request that would take the last place", ("HIVE-LIMIT-001",),
                                  r"answered before reaching a worker|not every inference completed",
                                  limiter=OneShortLimiter),
    "queue-ignored": _defect("the configured queue is ignored: capacity is the worker slots alone", ("HIVE-LIMIT-001",),
                             r"not every inference completed", limiter=QueueIgnored),
    "queue-not-held": _defect("queued requests are counted but sent to the busy worker at once", ("HIVE-LIMIT-001",),
                              r"did not wait for the slot", limiter=QueueNotHeld),
    "current-requests-counts-rejected": _defect("details.current_requests counts the request being turned away",
                                                ("HIVE-LIMIT-002",), r"details say current_requests 2",
                                                limiter=CountsTheRejectedRequest),
    "capacity-429": _defect("at capacity it answers 429 RATE_LIMITED", ("HIVE-LIMIT-002",),
                            r"expected code SERVICE_UNAVAILABLE",
                            render_error=recoded("SERVICE_UNAVAILABLE", "RATE_LIMITED")),
    "waits-before-rejecting": _defect("at capacity it waits 2 s for a slot before turning the request away",
                                      ("HIVE-LIMIT-003",), r"it waited", limiter=WaitsBeforeRejecting,
                                      hive=WaitingLimiterHive),
    "slot-kept-on-worker-error": _defect("an inference the worker fails never gives its slot back", ("HIVE-LIMIT-004",),
                                         r"1 inference\(s\) reached a worker, expected 2", hive=SlotKeptOnWorkerError),
    "place-kept-on-timeout": _defect("an inference that times out stays counted in flight: capacity shrinks by one",
                                     ("HIVE-LIMIT-004",), r"answered before reaching a worker",
                                     hive=QueuePlaceKeptOnTimeout),
    "slot-kept-on-disconnect": _defect("a client that hangs up gets its worker connection closed but not its slot "
                                       "returned", ("HIVE-LIMIT-004",), r"answered before reaching a worker",
                                       hive=SlotKeptOnDisconnect),
    "no-worker-404": _defect("an inference with no ready worker answers 404 NOT_FOUND", ("HIVE-LIMIT-005",),
                             r"expected code SERVICE_UNAVAILABLE",
                             render_error=recoded("SERVICE_UNAVAILABLE", "NOT_FOUND")),
    # -- streams --------------------------------------------------------------------------------------
    "delivered-text-short": _defect("the terminal error event's delivered_text leaves out the last token",
                                    ("HIVE-STREAM-001",), r"the error event says", error_event=short_delivered_text),
    "rbee-error-event-only": _defect("the terminal error event is rbee's {type, code, message} without the envelope",
                                     ("HIVE-STREAM-001",), r"the last event is not an error event",
                                     error_event=rbee_shape_only),
    "stream-without-end-event": _defect("a successful stream ends with [DONE] alone, no end event",
                                        ("HIVE-STREAM-002",), r"terminal events .*expected exactly one",
                                        hive=EndsWithoutEndEvent),
    "error-then-end": _defect("after the error event a failed stream also sends an end event", ("HIVE-STREAM-002",),
                              r"terminal events .*expected exactly one", hive=ErrorThenEnd),
    "stream-retried-on-another-worker": _defect("a stream whose worker crashes is started again on another worker",
                                                ("HIVE-STREAM-003",), r"2 inference\(s\) reached a worker, expected 1",
                                                hive=RetriesStreamOnAnotherWorker),
    "commits-before-first-token": _defect("commits a stream to 200 when the worker answers, before its first token",
                                          ("HIVE-STREAM-004",), r"got an event stream instead of an HTTP error",
                                          hive=CommitsBeforeFirstToken),
    "crash-names-no-worker": _defect("WORKER_CRASHED carries details.worker_id null", ("HIVE-STREAM-005",),
                                     r"details\.worker_id is None", render_error=crash_without_worker),
    "crash-as-500": _defect("a worker crash during a buffered inference is a 500 INTERNAL_ERROR", ("HIVE-STREAM-005",),
                            r"expected code WORKER_CRASHED",
                            render_error=recoded("WORKER_CRASHED", "INTERNAL_ERROR")),
    "crash-without-delivered-text": _defect("WORKER_CRASHED for a buffered inference carries no delivered_text",
                                            ("HIVE-STREAM-006",), r"details\.delivered_text is empty or missing",
                                            render_error=crash_without_delivered_text),
    # -- observability --------------------------------------------------------------------------------
    "log-counts-retries": _defect("the retry log line counts retries (\"attempt 1/5\"), not attempts",
                                  ("HIVE-OBS-001",), r"a log line with 'attempt \d/6'", hub=LogsRetriesNotAttempts),
    "log-without-correlation-id": _defect("the retry log line leaves out the correlation id", ("HIVE-OBS-001",),
                                          r"a log line with 'attempt \d/6'", hub=LogsWithoutCorrelationId),
    "no-correlation-to-hub": _defect("the hub requests carry no X-Correlation-ID", ("HIVE-OBS-002",),
                                     r"without the correlation id", hub=NoCorrelationToHub),
    "no-correlation-to-worker": _defect("the worker requests carry no X-Correlation-ID", ("HIVE-OBS-002",),
                                        r"without the correlation id", worker_call=NoCorrelationToWorker),
}


def components_for(defect: str | None) -> Components:
    return select(DEFECTS, defect, Components)


__all__ = ["DEFECTS", "Defect", "components_for"]
