"""The reference hive's policy components in isolation: classifier, retry schedule, breaker, slots."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from catalogue import catalogue
from reference.common.clock import ScaledClock
from reference.common.errors import ServiceError
from reference.common.breaker import CircuitBreaker, State
from reference.hive.classify import Classifier
from reference.hive.config import BreakerSettings, Limits, RetrySettings, parse_config
from reference.hive.defects import DEFECTS, JitterByAttempt, NeverHalfOpens, NoJitter, SeededPerCall, components_for
from reference.hive.gpu import GpuQueryFailed, parse_devices
from reference.hive.limiter import SlotLimiter
from reference.hive.retry import RetryPolicy
from reference.hive.spawn import worker_envelope
from reference.hive.validation import ModelRef, parse_spawn


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_hub_statuses_are_retried_and_counted(status: int) -> None:
    verdict = Classifier().status(status)
    assert verdict.retryable and verdict.counts_against_breaker


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_permanent_hub_statuses_are_neither_retried_nor_counted(status: int) -> None:
    verdict = Classifier().status(status)
    assert not verdict.retryable and not verdict.counts_against_breaker


def test_retry_delays_are_1_2_4_8_16_plus_up_to_a_second_of_jitter() -> None:
    policy = RetryPolicy(RetrySettings(), random.Random(3))
    for retry, base in enumerate([1, 2, 4, 8, 16], start=1):
        delays = [policy.delay(retry) for _ in range(200)]
        assert all(base <= d <= base + 1 for d in delays)
        assert max(delays) - min(delays) > 0.5  # jitter is really there
    assert policy.max_attempts == 6
    assert policy.should_retry(5) and not policy.should_retry(6)
    assert NoJitter(RetrySettings()).delay(3) == 4


def test_the_fixed_jitter_defects_repeat_their_delays_on_every_download() -> None:
    seeded = RetryPolicy(RetrySettings(), SeededPerCall())

    async def download() -> list[float]:   # each download is its own asyncio task, as in the hive
        return [seeded.delay(retry) for retry in range(1, 6)]

    async def three() -> list[list[float]]:
        return list(await asyncio.gather(*(download() for _ in range(3))))

    downloads = asyncio.run(three())
    assert downloads[0] == downloads[1] == downloads[2]
    assert len(set(d - b for d, b in zip(downloads[0], [1, 2, 4, 8, 16], strict=True))) == 5   # random-looking
    by_attempt = JitterByAttempt(RetrySettings(), random.Random())
    assert [by_attempt.delay(retry) for retry in range(1, 6)] == pytest.approx([1.2, 2.4, 4.6, 8.8, 17.0])


class FakeClock(ScaledClock):
    def __init__(self) -> None:
        super().__init__(1.0)
        object.__setattr__(self, "t", 0.0)

    def now(self) -> float:
        return float(self.t)  # type: ignore[attr-defined]

    def advance(self, seconds: float) -> None:
        object.__setattr__(self, "t", self.now() + seconds)


def test_breaker_opens_after_five_half_opens_after_cooldown_with_one_trial() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BreakerSettings(), clock)
    for _ in range(4):
        breaker.failed(breaker.admit())
    assert breaker.state is State.CLOSED
    breaker.failed(breaker.admit())
    assert breaker.state is State.OPEN
    clock.advance(20)
    rejected = breaker.admit()
    assert not rejected.allowed and rejected.retry_after == 40
    clock.advance(40)
    trial = breaker.admit()
    assert trial.allowed and trial.trial
    assert not breaker.admit().allowed  # concurrent calls are rejected while the trial runs
    breaker.failed(trial)
    assert breaker.state is State.OPEN and breaker.admit().retry_after == 60
    clock.advance(60)
    breaker.succeeded(breaker.admit())
    assert breaker.state is State.CLOSED and breaker.failures == 0


def test_breaker_defect_never_half_opens() -> None:
    clock = FakeClock()
    breaker = NeverHalfOpens(BreakerSettings(), clock)
    for _ in range(5):
        breaker.failed(breaker.admit())
    clock.advance(600)
    assert not breaker.admit().allowed


@dataclass
class StubWorker:
    model: ModelRef
    slots_total: int = 1
    active: int = 0
    routable: bool = True
    request: object = field(init=False)

    def __post_init__(self) -> None:
        self.request = type("R", (), {"model": self.model})()


MODEL = ModelRef("hf", "Org", "Small")


def test_slots_plus_queue_admit_exactly_n() -> None:
    async def scenario() -> tuple[int, ServiceError]:
        workers = [StubWorker(MODEL, slots_total=2)]
        limiter = SlotLimiter(Limits(max_queue=1), lambda: workers)  # type: ignore[arg-type, return-value]
        held = [limiter.slot(MODEL) for _ in range(2)]
        for context in held:
            await context.__aenter__()
        waiting = limiter.slot(MODEL)  # kept: a dropped context manager would release its slot
        queued = asyncio.ensure_future(waiting.__aenter__())
        await asyncio.sleep(0)
        with pytest.raises(ServiceError) as rejected:
            await limiter.slot(MODEL).__aenter__()
        await held[0].__aexit__(None, None, None)
        await asyncio.wait_for(queued, 1)
        active = workers[0].active
        for context in (held[1], waiting):
            await context.__aexit__(None, None, None)
        return active, rejected.value

    active, rejected = asyncio.run(scenario())
    assert active == 2
    assert rejected.status == 503 and rejected.details["current_requests"] == 3
    assert rejected.details["max_concurrent"] == 3 and rejected.details["retry_after_seconds"] == 1.0


def test_no_ready_worker_is_a_503_with_retry_after() -> None:
    async def scenario() -> ServiceError:
        limiter = SlotLimiter(Limits(), lambda: [])
        with pytest.raises(ServiceError) as rejected:
            await limiter.slot(None).__aenter__()
        return rejected.value

    assert asyncio.run(scenario()).details["retry_after_seconds"] == 1.0


def test_nvidia_smi_csv_is_parsed_and_garbage_is_a_device_failure() -> None:
    devices = parse_devices("0, NVIDIA A100, 40960, 39000\n1, NVIDIA A100, 40960, 100\n")
    assert [(d.index, d.free_mib) for d in devices] == [(0, 39000), (1, 100)]
    with pytest.raises(GpuQueryFailed):
        parse_devices("0, A100, lots, 1\n")


@pytest.mark.parametrize("ref", ["hf:Org/Name;rm -rf /", "hf:Org/Na\nme", "hf:Org/Na\x00me", "hf:Org/Nämé",
                                 "hf:../etc", "Org/Name", "hf:Org/$(id)", "s3:Org/Name"])
def test_hostile_model_refs_are_validation_errors(ref: str) -> None:
    with pytest.raises(ServiceError) as rejected:
        parse_spawn({"model_ref": ref, "backend": "cuda", "device": 0})
    assert rejected.value.code == "VALIDATION_ERROR" and ref not in rejected.value.message


@pytest.mark.parametrize("body", [{"backend": "quantum"}, {"backend": "cu da"}, {"device": -1},
                                  {"device": "0"}, {"device": True}])
def test_backend_and_device_are_checked(body: dict[str, object]) -> None:
    with pytest.raises(ServiceError):
        parse_spawn({"model_ref": "hf:Org/Name", "backend": "cuda", "device": 0, **body})


def test_the_worker_envelope_is_found_among_its_log_lines() -> None:
    lines = ["loading", 'Error: {"error": {"code": "CUDA_DEVICE_FAILED", "message": "x"}}', "bye"]
    assert worker_envelope(lines) == {"code": "CUDA_DEVICE_FAILED", "message": "x"}
    assert worker_envelope(["no json here"]) is None


def test_config_defaults_and_models_dir_outside_temp_dir(tmp_path: object) -> None:
    config = parse_config({"api_token": "t", "temp_dir": "/tmp/x/tmp"})
    assert config.timeouts.inference == 25 and config.timeouts.cleanup == 5 and config.retry.max_retries == 5
    with pytest.raises(ValueError):
        parse_config({"api_token": "t", "temp_dir": "/tmp/x", "models_dir": "/tmp/x/models"})
    with pytest.raises(ValueError):
        parse_config({"api_token": "t", "limits": {"slots": 2}})


def test_every_defect_builds_and_unknown_names_are_refused() -> None:
    assert len(DEFECTS) >= 13
    clauses = catalogue().clauses
    for name, defect in DEFECTS.items():
        components_for(name)
        assert defect.clauses and all(clause in clauses for clause in defect.clauses), name
    with pytest.raises(ValueError):
        components_for("no-such-defect")
