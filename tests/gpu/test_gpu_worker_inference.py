"""The fake worker's SSE stream (rbee's frames) and its token faults, over real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from fault_injection.gpu.journal import of_kind
from fault_injection.gpu.plan import DeviceFaults
from tests.gpu.conftest import BOUND, CallbackReceiver, RunningWorker, SpawnWorker, gpu_plan

JOB = {"job_id": "job-1", "prompt": "hello", "max_tokens": 50}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=BOUND, trust_env=False) as http:
        yield http


def ready(spawn_worker: SpawnWorker, callback: CallbackReceiver, faults: DeviceFaults,
          tokens: int = 5) -> RunningWorker:
    worker = spawn_worker(gpu_plan(faults, tokens=tokens), callback.url)
    worker.wait_for("ready_callback")
    worker.wait_listening()
    return worker


def frames(lines: Iterator[str], into: list[object]) -> None:
    for line in lines:
        if line.startswith("data: "):
            data = line.removeprefix("data: ")
            into.append(data if data == "[DONE]" else json.loads(data))


def stream(client: httpx.Client, worker: RunningWorker, into: list[object], body: dict[str, object] = JOB) -> None:
    with client.stream("POST", f"{worker.url}/v1/inference", json=body) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
        frames(answer.iter_lines(), into)


def types(events: list[object]) -> list[str]:
    return [e if isinstance(e, str) else str(e["type"]) for e in events]  # type: ignore[index]


def test_tokens_arrive_as_rbee_sse_frames(spawn_worker: SpawnWorker, callback: CallbackReceiver,
                                          client: httpx.Client) -> None:
    worker = ready(spawn_worker, callback, DeviceFaults(), tokens=4)
    events: list[object] = []
    stream(client, worker, events)
    assert types(events) == ["started", "token", "token", "token", "token", "end", "[DONE]"]
    assert [e["i"] for e in events[1:5]] == [0, 1, 2, 3]  # type: ignore[index]
    assert events[5] == {**events[5], "tokens_out": 4, "stop_reason": "EOS"}  # type: ignore[dict-item]
    assert of_kind(worker.journal(), "inference_finished")[0].get("tokens_sent") == 4


def test_max_tokens_caps_the_stream(spawn_worker: SpawnWorker, callback: CallbackReceiver,
                                    client: httpx.Client) -> None:
    worker = ready(spawn_worker, callback, DeviceFaults(), tokens=10)
    events: list[object] = []
    stream(client, worker, events, {**JOB, "max_tokens": 2})
    assert types(events).count("token") == 2 and events[-2]["stop_reason"] == "MAX_TOKENS"  # type: ignore[index]


def test_an_invalid_request_gets_rbees_400_errors(spawn_worker: SpawnWorker, callback: CallbackReceiver,
                                                  client: httpx.Client) -> None:
    worker = ready(spawn_worker, callback, DeviceFaults())
    answer = client.post(f"{worker.url}/v1/inference", json={"job_id": "", "prompt": "x", "max_tokens": 5000})
    assert answer.status_code == 400
    assert {e["field"] for e in answer.json()["errors"]} == {"job_id", "max_tokens"}
    assert client.post(f"{worker.url}/v1/inference", content=b"{oops").status_code == 400


def test_oom_after_n_tokens_ends_the_stream_with_an_error_event(
        spawn_worker: SpawnWorker, callback: CallbackReceiver, client: httpx.Client) -> None:
    worker = ready(spawn_worker, callback, DeviceFaults(oom_after_tokens=2))
    events: list[object] = []
    stream(client, worker, events)
    assert types(events) == ["started", "token", "token", "error", "[DONE]"]
    assert events[3]["code"] == "GPU_VRAM_EXHAUSTED"  # type: ignore[index]
    assert worker.proc.poll() is None  # one inference failed; the worker lives on
    assert of_kind(worker.journal(), "inference_fault")[0].fields == {"job_id": "job-1", "fault": "oom",
                                                                       "tokens_sent": 2}


def test_crash_after_n_tokens_kills_the_process_mid_stream(
        spawn_worker: SpawnWorker, callback: CallbackReceiver, client: httpx.Client) -> None:
    worker = ready(spawn_worker, callback, DeviceFaults(crash_after_tokens=3))
    events: list[object] = []
    with pytest.raises(httpx.RemoteProtocolError):
        stream(client, worker, events)
    assert types(events) == ["started", "token", "token", "token"]
    assert worker.wait_exit() == 101
    assert [e.kind for e in worker.journal()][-2:] == ["inference_fault", "exit"]


def test_hang_after_n_tokens_stops_sending_and_keeps_the_connection(
        spawn_worker: SpawnWorker, callback: CallbackReceiver) -> None:
    worker = ready(spawn_worker, callback, DeviceFaults(hang_after_tokens=1))
    events: list[object] = []
    # The read timeout is the observation: nothing more ever arrives, and the socket stays open.
    with httpx.Client(timeout=httpx.Timeout(BOUND, read=1.0), trust_env=False) as slow:
        with pytest.raises(httpx.ReadTimeout):
            stream(slow, worker, events)
    assert types(events) == ["started", "token"]
    assert worker.proc.poll() is None
    gone = worker.wait_for("client_disconnected")
    assert gone.fields == {"job_id": "job-1", "tokens_sent": 1}
