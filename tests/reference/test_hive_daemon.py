"""The reference hive as a process, with fake GPU workers: spawn, ready, inference, stop, GPU fail
fast, shutdown, limits, cleanup."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.portal import BackgroundLoop
from harness.probes import listening_ports, processes_with_argument, temp_dir_contents
from harness.wait import wait_until
from reference.hive.workers import MIN_TERM_GRACE
from test_hive_support import SCALE, SIGKILL_EXIT, TOKEN, HiveProcess, gpu_plan, model_hub, pid_alive, \
    running_hive

SLOW_TOKENS = {"ready": 250, "inference": 250}  # for tests that need inferences in flight for a while


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as background:
        yield background


@pytest.fixture(scope="module")
def hub_url(loop: BackgroundLoop) -> Iterator[str]:
    """Shared: these tests never script the hub, and every hive downloads into its own models_dir."""
    with model_hub(loop) as hub:
        yield hub.url


def sse_payloads(body: str) -> list[str]:
    return [line[5:].strip() for line in body.splitlines() if line.startswith("data:")]


def code(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["code"])


def infer(hive: HiveProcess, max_tokens: int = 3, stream: bool = False) -> httpx.Response:
    return hive.call("POST", "/v1/inference", {"prompt": "hi", "max_tokens": max_tokens, "stream": stream})


def test_spawn_ready_infer_stop_releases_process_port_and_scratch(tmp_path: Path, hub_url: str) -> None:
    # A cleanup timeout of 1 s real: the fake worker's orderly exit takes longer than 5 s x 0.02.
    with running_hive(tmp_path, hub_url, timeouts={"ready": 250, "cleanup": 50}) as hive:
        spawned = hive.spawn(backend="cuda")
        assert spawned.status_code == 200, spawned.text
        worker = spawned.json()
        assert worker["state"] == "idle" and pid_alive(worker["pid"])
        port = int(worker["url"].rsplit(":", 1)[1])
        (started,) = hive.started_workers()
        assert (started.backend, started.device, started.get("port")) == ("cuda", 0, port)

        answer = infer(hive)
        assert answer.status_code == 200, answer.text
        assert answer.json()["text"] == "tok0 tok1 tok2 " and answer.json()["tokens"] == 3

        streamed = infer(hive, max_tokens=2, stream=True)
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = sse_payloads(streamed.text)
        assert [json.loads(e)["type"] for e in events[:-1]] == ["started", "token", "token", "end"]
        assert events[-1] == "[DONE]"

        stopped = hive.call("POST", "/v1/workers/stop", {"worker_id": worker["worker_id"]}).json()
        assert stopped == {"worker_id": worker["worker_id"], "exit_code": 0, "state": "exited"}
        assert [e.get("code") for e in hive.entries("exit")] == [0]
        assert not pid_alive(worker["pid"])
        assert not processes_with_argument("--worker-id", worker["worker_id"])
        assert not listening_ports([port])
        assert temp_dir_contents(hive.temp_dir) == []
        assert hive.workers()[0]["exit_code"] == 0


def test_cuda_init_failure_fails_fast_without_a_second_worker(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, plan=gpu_plan(init_failure=True)) as hive:
        answer = hive.spawn(backend="cuda")
        assert answer.status_code == 500 and code(answer) == "CUDA_DEVICE_FAILED", answer.text
        assert answer.json()["error"]["details"]["device"] == 0
        assert [(s.backend, s.device) for s in hive.started_workers()] == [("cuda", 0)]
        assert [w["exit_code"] for w in hive.workers()] == [1]
        assert temp_dir_contents(hive.temp_dir) == []


@pytest.mark.parametrize(("defect", "second"), [("cpu-fallback", ("cpu", 0)), ("other-device", ("cuda", 1))])
def test_fallback_defects_start_a_second_worker(tmp_path: Path, hub_url: str, defect: str,
                                                second: tuple[str, int]) -> None:
    with running_hive(tmp_path, hub_url, plan=gpu_plan(init_failure=True), defect=defect) as hive:
        hive.spawn(backend="cuda")
        if defect == "cpu-fallback":
            assert [(s.backend, s.device) for s in hive.started_workers()] == [("cuda", 0), second]


def test_vram_preflight_refuses_before_any_worker_starts(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url) as hive:
        for known in ("hf:Org/Small", "hf:Org/Tiny"):
            assert hive.call("POST", "/v1/models/download", {"model_ref": known}).status_code == 200
        answer = hive.spawn(model="hf:Org/Big", backend="cuda")
        error = answer.json()["error"]
        assert error["code"] == "GPU_VRAM_EXHAUSTED", answer.text
        details = error["details"]
        assert (details["required_vram_mib"], details["available_vram_mib"]) == (30000, 20000)
        assert details["model"] == "hf:Org/Big" and details["device"] == 0 and details["suggested_action"]
        assert details["alternative_models"] == ["hf:Org/Small", "hf:Org/Tiny"]
        missing = hive.spawn(backend="cuda", device=3)
        assert code(missing) == "CUDA_DEVICE_FAILED"
        assert hive.started_workers() == []


def test_the_no_vram_preflight_defect_starts_the_worker(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, plan=gpu_plan(oom_at_load=True), defect="no-vram-preflight") as hive:
        assert hive.spawn(model="hf:Org/Big", backend="cuda").json()["error"]["code"] == "GPU_VRAM_EXHAUSTED"
        assert len(hive.started_workers()) == 1


def test_oom_at_load_keeps_its_code(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, plan=gpu_plan(oom_at_load=True)) as hive:
        answer = hive.spawn(backend="cuda")
        error = answer.json()["error"]
        assert error["code"] == "GPU_VRAM_EXHAUSTED", answer.text
        details = error["details"]
        assert (details["required_vram_mib"], details["available_vram_mib"]) == (1000, 20000)
        assert len(hive.started_workers()) == 1


def test_daemon_exits_1_at_once_when_a_configured_device_is_missing(tmp_path: Path, hub_url: str) -> None:
    hive = HiveProcess(tmp_path, hub_url, devices=[0, 5])
    try:
        hive.start(wait=False)
        assert hive.process is not None
        assert hive.process.wait(timeout=20) == 1
        assert '"code": "CUDA_DEVICE_FAILED"' in hive.log()
        assert hive.started_workers() == []
    finally:
        hive.kill_everything()


def test_sigterm_stops_every_worker_even_one_ignoring_sigterm(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, plan=gpu_plan(ignore_sigterm=True)) as hive:
        workers = [hive.spawn(backend=backend).json() for backend in ("cuda", "cpu")]
        ports = [int(w["url"].rsplit(":", 1)[1]) for w in workers]
        started = time.monotonic()
        assert hive.signal(signal.SIGTERM) == 0, hive.log()
        assert time.monotonic() - started < 5 * SCALE + 1
        for worker in workers:
            assert not pid_alive(worker["pid"])
            assert not processes_with_argument("--worker-id", worker["worker_id"])
        assert not listening_ports(ports) and temp_dir_contents(hive.temp_dir) == []
        assert [e.get("ignored") for e in hive.entries("signal")].count(True) == 1


def test_sigint_also_stops_every_worker_and_exits_0(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url) as hive:
        worker = hive.spawn().json()
        assert hive.signal(signal.SIGINT) == 0, hive.log()
        assert not pid_alive(worker["pid"]) and temp_dir_contents(hive.temp_dir) == []


def test_stop_escalates_to_sigkill_within_the_cleanup_timeout(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, plan=gpu_plan(ignore_sigterm=True)) as hive:
        worker = hive.spawn(backend="cuda").json()
        started = time.monotonic()
        stopped = hive.call("POST", "/v1/workers/stop", {"worker_id": worker["worker_id"]}).json()
        assert stopped["exit_code"] == SIGKILL_EXIT
        # SIGKILL after a grace of at least MIN_TERM_GRACE of the cleanup timeout, and within it.
        assert 5 * MIN_TERM_GRACE * SCALE <= time.monotonic() - started < 5 * SCALE + 0.5
        assert not pid_alive(worker["pid"])
        assert hive.entries("exit") == []  # a SIGKILLed worker journals no exit


def test_no_sigkill_escalation_defect_leaves_the_worker_running(tmp_path: Path, hub_url: str) -> None:
    plan = gpu_plan(ignore_sigterm=True)
    with running_hive(tmp_path, hub_url, plan=plan, defect="no-sigkill-escalation") as hive:
        worker = hive.spawn(backend="cuda").json()
        stopped = hive.call("POST", "/v1/workers/stop", {"worker_id": worker["worker_id"]}).json()
        assert stopped["exit_code"] is None and pid_alive(worker["pid"])


def test_leaks_worker_on_sigterm_defect_leaves_the_worker(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, defect="leaks-worker-on-sigterm") as hive:
        worker = hive.spawn().json()
        assert hive.signal(signal.SIGTERM) == 0
        assert processes_with_argument("--worker-id", worker["worker_id"])


def test_a_worker_that_never_calls_back_is_stopped_and_the_spawn_fails(tmp_path: Path, hub_url: str) -> None:
    plan = gpu_plan(slow_load_seconds=1000)
    with running_hive(tmp_path, hub_url, plan=plan, timeouts={"ready": 20}) as hive:
        answer = hive.spawn(backend="cuda")
        assert answer.status_code == 500 and code(answer) == "WORKER_SPAWN_FAILED", answer.text
        assert {"model", "backend", "device"} <= set(answer.json()["error"]["details"])
        (started,) = hive.started_workers()
        assert not pid_alive(started.pid) and temp_dir_contents(hive.temp_dir) == []
        assert hive.workers()[0]["exit_code"] == 0 == hive.entries("exit")[0].get("code")


def test_a_hung_worker_gives_504_near_25s_and_is_stopped(tmp_path: Path, hub_url: str) -> None:
    scale = 0.06  # 25 s against 30 s: a margin of 0.3 s for a loaded machine
    plan = gpu_plan(hang_after_tokens=1, scale=scale)
    with running_hive(tmp_path, hub_url, plan=plan, scale=scale) as hive:
        worker = hive.spawn(backend="cuda").json()
        started = time.monotonic()
        answer = infer(hive)
        elapsed = time.monotonic() - started
        assert answer.status_code == 504 and code(answer) == "INFERENCE_TIMEOUT", answer.text
        assert 25 * scale <= elapsed < 30 * scale, elapsed
        assert answer.json()["error"]["details"]["delivered_text"] == "tok0 "
        wait_until(lambda: hive.workers()[0]["exit_code"] is not None, timeout=5 * scale + 0.5,
                   what="the hung worker stopped and reported")
        assert not pid_alive(worker["pid"])
        assert infer(hive).json()["error"]["code"] == "SERVICE_UNAVAILABLE"  # nothing routed to it


def test_a_stream_that_stalls_ends_with_a_terminal_timeout_event(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, plan=gpu_plan(hang_after_tokens=1)) as hive:
        hive.spawn(backend="cuda")
        answer = infer(hive, stream=True)
        events = sse_payloads(answer.text)
        assert answer.status_code == 200 and events[-1] == "[DONE]"
        terminal = json.loads(events[-2])
        assert terminal["type"] == "error" and terminal["error"]["code"] == "INFERENCE_TIMEOUT"
        assert terminal["error"]["details"]["delivered_text"] == "tok0 "


def test_a_worker_crash_mid_stream_ends_with_what_was_delivered(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, plan=gpu_plan(crash_after_tokens=2)) as hive:
        hive.spawn(backend="cuda")
        events = sse_payloads(infer(hive, max_tokens=5, stream=True).text)
        assert [json.loads(e)["type"] for e in events[:-1]] == ["started", "token", "token", "error"]
        terminal = json.loads(events[-2])["error"]
        assert terminal["code"] == "WORKER_CRASHED" and terminal["details"]["delivered_text"] == "tok0 tok1 "
        wait_until(lambda: hive.workers()[0]["exit_code"] == 101, timeout=5, what="the crashed worker reaped")


def test_a_crash_before_the_first_token_is_an_http_error_not_a_stream(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, plan=gpu_plan(crash_after_tokens=0)) as hive:
        worker = hive.spawn(backend="cuda").json()
        answer = infer(hive, stream=True)
        assert answer.status_code == 502 and code(answer) == "WORKER_CRASHED", answer.text
        assert answer.json()["error"]["details"]["worker_id"] == worker["worker_id"]


def test_a_non_streaming_crash_is_502_with_the_text_produced_before(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, plan=gpu_plan(crash_after_tokens=2)) as hive:
        hive.spawn(backend="cuda")
        answer = infer(hive, max_tokens=5)
        assert answer.status_code == 502 and code(answer) == "WORKER_CRASHED"
        assert answer.json()["error"]["details"]["delivered_text"] == "tok0 tok1 "
        assert hive.call("GET", "/v1/health").status_code == 200


def test_an_oom_during_inference_keeps_its_gpu_code(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, plan=gpu_plan(oom_after_tokens=1)) as hive:
        hive.spawn(backend="cuda")
        terminal = json.loads(sse_payloads(infer(hive, stream=True).text)[-2])
        assert terminal["code"] == terminal["error"]["code"] == "GPU_VRAM_EXHAUSTED"
        required = {"required_vram_mib", "available_vram_mib", "alternative_models"}
        assert required <= set(terminal["error"]["details"])
        assert len(hive.started_workers()) == 1


def test_a_client_that_leaves_a_stream_closes_the_worker_request(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, plan=gpu_plan(token_interval=5), timeouts=SLOW_TOKENS) as hive:
        hive.spawn()
        body = {"prompt": "hi", "max_tokens": 8, "stream": True}
        with hive.client.stream("POST", f"{hive.url}/v1/inference", json=body, timeout=10,
                                headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            for line in response.iter_lines():
                if '"type":"token"' in line.replace(" ", ""):
                    break
        wait_until(lambda: hive.entries("client_disconnected"), timeout=5 * SCALE + 1,
                   what="the worker to see its request closed")
        wait_until(lambda: hive.workers()[0]["slots_available"] == 1, timeout=5, what="the slot released")


def test_capacity_n_admits_n_and_turns_the_next_away_with_retry_after(tmp_path: Path, hub_url: str) -> None:
    limits = {"slots_per_worker": 1, "max_queue": 1}
    plan = gpu_plan(token_interval=5)
    with running_hive(tmp_path, hub_url, plan=plan, limits=limits, timeouts=SLOW_TOKENS) as hive:
        hive.spawn()
        results: list[httpx.Response] = []
        threads = [threading.Thread(target=lambda: results.append(infer(hive, max_tokens=4)))
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        wait_until(lambda: hive.call("GET", "/v1/workers/list").json()["queue"]["waiting"] == 1, timeout=5,
                   what="one request in a slot and one queued")
        rejected = infer(hive, max_tokens=1)
        for thread in threads:
            thread.join(10)
        assert rejected.status_code == 503, rejected.text
        assert rejected.headers["retry-after"] == "1"
        details = rejected.json()["error"]["details"]
        assert details["current_requests"] == details["max_concurrent"] == 2
        assert [r.status_code for r in results] == [200, 200]
        assert len(hive.entries("inference_started")) == 2  # the rejected one reached no worker


def test_a_queued_client_that_leaves_gives_its_place_back(tmp_path: Path, hub_url: str) -> None:
    limits = {"slots_per_worker": 1, "max_queue": 1}
    plan = gpu_plan(token_interval=5)
    with running_hive(tmp_path, hub_url, plan=plan, limits=limits, timeouts=SLOW_TOKENS) as hive:
        hive.spawn()
        holder = threading.Thread(target=lambda: infer(hive, max_tokens=8))
        holder.start()
        wait_until(lambda: hive.workers()[0]["slots_available"] == 0, timeout=5, what="the slot taken")
        with pytest.raises(httpx.ReadTimeout):
            hive.call("POST", "/v1/inference", {"prompt": "b", "max_tokens": 1}, timeout=0.2)
        wait_until(lambda: hive.call("GET", "/v1/workers/list").json()["queue"]["waiting"] == 0, timeout=5,
                   what="the queue place given back")
        queued = threading.Thread(target=lambda: infer(hive, max_tokens=1))
        queued.start()
        wait_until(lambda: hive.call("GET", "/v1/workers/list").json()["queue"]["waiting"] == 1, timeout=5,
                   what="a new request admitted to the queue")
        holder.join(10)
        queued.join(10)


def test_auth_validation_and_the_ready_callback_only_for_a_known_worker(tmp_path: Path, hub_url: str) -> None:
    with running_hive(tmp_path, hub_url, limits={"max_body_bytes": 1000}) as hive:
        assert hive.call("GET", "/v1/health", token=None).json()["status"] == "alive"
        assert hive.call("GET", "/v1/workers/list", token=None).status_code == 401
        wrong = hive.call("GET", "/v1/workers/list", token="not-the-token")
        assert wrong.status_code == 403 and "not-the-token" not in wrong.text
        forged = {"worker_id": "worker-forged"}
        assert hive.call("POST", "/v1/workers/ready", forged, token=None).status_code == 401
        assert code(hive.call("POST", "/v1/workers/ready", forged)) == "WORKER_NOT_FOUND"
        assert hive.call("POST", "/v1/workers/spawn", None).status_code == 400
        nested = hive.client.post(f"{hive.url}/v1/inference", content=b"[" * 900,
                                  headers={"Authorization": f"Bearer {TOKEN}"})
        assert nested.status_code == 400
        assert nested.json()["error"]["details"]["fields"] == {"body": "is not valid JSON"}
        too_big = hive.call("POST", "/v1/inference", {"prompt": "x" * 2000})
        assert too_big.status_code == 413 and too_big.json()["error"]["details"]["max_bytes"] == 1000
        metal = hive.spawn(backend="metal")  # valid input; the fake machine has no Metal device
        assert code(metal) == "WORKER_SPAWN_FAILED", metal.text
        unknown = hive.call("POST", "/v1/workers/stop", {"worker_id": "worker-unknown"})
        assert code(unknown) == "WORKER_NOT_FOUND"
        assert TOKEN not in hive.log()
