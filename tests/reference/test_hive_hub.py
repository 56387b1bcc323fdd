"""The hive against the project's fake model hub: retry schedule, permanent failures, breaker, cleanup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.fakes.facade import SyncHub
from harness.fakes.script import Transfer, script, statuses
from harness.portal import BackgroundLoop
from harness.probes import temp_dir_contents
from harness.wait import wait_until
from test_hive_support import SCALE, TOKEN, model_hub, running_hive

TOLERANCE = 0.25  # real seconds of scheduling noise allowed on top of a delay
SMALL = {"model_ref": "hf:Org/Small"}


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as background:
        yield background


@pytest.fixture
def hub(loop: BackgroundLoop) -> Iterator[SyncHub]:
    with model_hub(loop) as fake:
        yield fake


def gaps(hub: SyncHub, path_part: str) -> list[float]:
    times = [r.t for r in hub.requests if path_part in r.path]
    return [(b - a) / SCALE for a, b in zip(times, times[1:], strict=False)]


def test_transient_failures_are_retried_on_the_schedule_and_logged(tmp_path: Path, hub: SyncHub) -> None:
    hub.set_script(statuses(503, 429, 500, 200), "metadata")
    with running_hive(tmp_path, hub.url) as hive:
        answer = hive.call("POST", "/v1/models/download", SMALL)
        assert answer.status_code == 200, answer.text
        assert Path(answer.json()["local_path"]).stat().st_size == 4096
        measured = gaps(hub, "/api/models/")
        assert len(measured) == 3
        for base, gap in zip([1, 2, 4], measured, strict=True):
            assert base <= gap <= base + 1 + TOLERANCE / SCALE, measured
        cid = answer.headers["x-correlation-id"]
        for n in (2, 3, 4):
            assert f"attempt {n}/6" in hive.log()
        assert f"correlation_id={cid}" in hive.log()
        assert temp_dir_contents(hive.temp_dir) == []


def test_a_cut_transfer_is_retried_from_scratch(tmp_path: Path, hub: SyncHub) -> None:
    hub.set_script(script(Transfer(cut_after_bytes=1000), Transfer()), "file")
    with running_hive(tmp_path, hub.url) as hive:
        answer = hive.call("POST", "/v1/models/download", SMALL)
        assert answer.status_code == 200, answer.text
        assert Path(answer.json()["local_path"]).stat().st_size == 4096
        assert temp_dir_contents(hive.temp_dir) == []


def test_at_most_five_retries_then_the_download_fails_and_the_partial_file_goes(
        tmp_path: Path, hub: SyncHub) -> None:
    hub.set_script(script(Transfer(cut_after_bytes=1000)), "file")
    with running_hive(tmp_path, hub.url) as hive:
        answer = hive.call("POST", "/v1/models/download", SMALL)
        assert answer.json()["error"]["code"] == "DOWNLOAD_FAILED", answer.text
        assert answer.status_code // 100 == 5
        assert len([r for r in hub.requests if "/resolve/" in r.path]) == 6
        assert temp_dir_contents(hive.temp_dir) == []


def test_a_404_is_never_retried(tmp_path: Path, hub: SyncHub) -> None:
    with running_hive(tmp_path, hub.url) as hive:
        answer = hive.call("POST", "/v1/models/download", {"model_ref": "hf:Org/Missing"})
        assert answer.json()["error"]["code"] == "MODEL_NOT_FOUND", answer.text
        assert len(hub.requests) == 1


def test_the_retries_permanent_defect_retries_a_404(tmp_path: Path, hub: SyncHub) -> None:
    with running_hive(tmp_path, hub.url, defect="retries-permanent", retry={"max_retries": 2}) as hive:
        hive.call("POST", "/v1/models/download", {"model_ref": "hf:Org/Missing"})
        assert len(hub.requests) == 3


def test_breaker_opens_after_five_failed_operations_then_half_opens(tmp_path: Path, hub: SyncHub) -> None:
    hub.set_script(statuses(503, 503, 503, 503, 503, 200), "metadata")
    with running_hive(tmp_path, hub.url, retry={"max_retries": 0}) as hive:
        for _ in range(5):
            failed = hive.call("POST", "/v1/models/download", SMALL)
            assert failed.json()["error"]["code"] == "DOWNLOAD_FAILED", failed.text
        rejected = hive.call("POST", "/v1/models/download", SMALL)
        assert rejected.status_code == 503 and rejected.json()["error"]["code"] == "CIRCUIT_BREAKER_OPEN"
        assert 1 <= int(rejected.headers["retry-after"]) <= 60
        wait = rejected.json()["error"]["details"]["retry_after_seconds"]
        assert wait == int(rejected.headers["retry-after"])
        assert len(hub.requests) == 5  # the hub saw nothing
        wait_until(lambda: hive.call("POST", "/v1/models/download", SMALL).status_code == 200,
                   timeout=60 * SCALE + 5, interval=0.05, what="the breaker half-open and the trial passing")
        assert hive.call("POST", "/v1/models/download", {"model_ref": "hf:Org/Tiny"}).status_code == 200


def test_404_does_not_count_against_the_breaker(tmp_path: Path, hub: SyncHub) -> None:
    with running_hive(tmp_path, hub.url) as hive:
        for _ in range(6):
            hive.call("POST", "/v1/models/download", {"model_ref": "hf:Org/Missing"})
        answer = hive.call("POST", "/v1/models/download", SMALL)
        assert answer.status_code == 200, answer.text
        assert TOKEN not in hive.log()
