"""Reference hive overhead, measured side by side with the fake worker used directly.

    .venv/bin/python bench/hive/run.py [--spawns 8] [--inferences 200]

Spawn-to-ready: the hive's POST /v1/workers/spawn (download cached, preflight, start, ready
callback) against starting the same worker by hand and waiting for its ready callback.
Routing: a streamed inference through the hive against the same request sent to the worker.
Loopback only; bounded; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.stop_signals import install_stop_handlers  # noqa: E402
from fault_injection.gpu import worker_command  # noqa: E402
from fault_injection.gpu.plan import Device, GpuPlan, WorkerDefaults, write_plan  # noqa: E402
from harness.asgi_server import serve_app  # noqa: E402
from harness.fakes import start_hub  # noqa: E402
from harness.history import History  # noqa: E402
from harness.plugin import DEFAULT_TARGETS  # noqa: E402
from harness.portal import BackgroundLoop  # noqa: E402
from harness.ports import free_port  # noqa: E402
from harness.rigs.hive import DEFAULT_MODEL, model_ref  # noqa: E402
from harness.targets import TargetContext, load_target_file, make_target  # noqa: E402


def stream_to_done(client: httpx.Client, url: str, body: dict[str, object], headers: dict[str, str]) -> float:
    start = time.perf_counter()
    with client.stream("POST", url, json=body, headers=headers) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.strip() == "data: [DONE]":
                break
    return time.perf_counter() - start


def direct_spawns(loop: BackgroundLoop, env: dict[str, str], model: str, count: int) -> list[float]:
    arrived: asyncio.Event | None = None

    async def callback(scope, receive, send):  # type: ignore[no-untyped-def]
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        assert arrived is not None
        arrived.set()

    served = loop.call(serve_app, callback)
    samples = []
    try:
        for n in range(count):
            async def fresh() -> None:
                nonlocal arrived
                arrived = asyncio.Event()
            loop.call(fresh)
            start = time.perf_counter()
            proc = subprocess.Popen([*worker_command(), "--worker-id", f"bench-{n}", "--model", model, "--model-ref",
                                     model_ref(DEFAULT_MODEL.repo_id), "--backend", "cuda", "--device", "0",
                                     "--port", str(free_port()), "--callback-url", served.url + "/ready"], env=env)
            try:
                async def wait() -> None:
                    assert arrived is not None
                    await asyncio.wait_for(arrived.wait(), 20)
                loop.call(wait)
                samples.append(time.perf_counter() - start)
            finally:
                proc.kill()
                proc.wait()
    finally:
        loop.call(served.stop)
    return samples


def main() -> int:
    install_stop_handlers()  # SIGTERM unwinds like Ctrl-C: what the benchmark started is stopped
    parser = argparse.ArgumentParser()
    parser.add_argument("--spawns", type=int, default=8)
    parser.add_argument("--inferences", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="faultline-bench-hive-") as work:
        return measure(args, Path(work))


def measure(args: argparse.Namespace, work: Path) -> int:
    plan = write_plan(GpuPlan((Device(0),), WorkerDefaults(tokens_per_inference=4, token_interval_seconds=0.0), 1.0),
                      work / "plan.json")
    env = {**os.environ, "FAULTLINE_GPU_PLAN": str(plan)}
    token = "hive-" + secrets.token_hex(8)
    headers = {"authorization": f"Bearer {token}"}
    with BackgroundLoop() as loop:
        hub = start_hub(loop, "bench", History(), [DEFAULT_MODEL])
        values = {"hub_url": hub.url, "worker_command": worker_command(), "nvidia_smi":
                  str(Path(__file__).resolve().parents[2] / "fault_injection/gpu/bin/nvidia-smi"),
                  "gpu_plan": str(plan), "worker_journal": "", "limits": {"slots_per_worker": 64, "max_queue": 0}}
        hive = make_target(load_target_file(DEFAULT_TARGETS["hive"])).start(TargetContext(1.0, token, values))
        try:
            with httpx.Client(timeout=30.0) as client:
                ref = model_ref(DEFAULT_MODEL.repo_id)
                client.post(hive.base_url + "/v1/models/download", json={"model_ref": ref}, headers=headers)
                via_spawn, worker = [], {}
                for _ in range(args.spawns):
                    start = time.perf_counter()
                    answer = client.post(hive.base_url + "/v1/workers/spawn", headers=headers,
                                         json={"model_ref": ref, "backend": "cuda", "device": 0})
                    answer.raise_for_status()
                    via_spawn.append(time.perf_counter() - start)
                    worker = answer.json()
                model_path = next(iter((hive.temp_dir / ".." / "models").rglob("*.gguf")), work / "x")  # type: ignore[operator]
                direct_spawn = direct_spawns(loop, env, str(model_path), args.spawns)
                body = {"prompt": "hi", "max_tokens": 4}
                for _ in range(20):
                    stream_to_done(client, worker["url"] + "/v1/inference", {**body, "job_id": "warm"}, {})
                    stream_to_done(client, hive.base_url + "/v1/inference", {**body, "stream": True}, headers)
                direct = [stream_to_done(client, worker["url"] + "/v1/inference", {**body, "job_id": f"j{i}"}, {})
                          for i in range(args.inferences)]
                via = [stream_to_done(client, hive.base_url + "/v1/inference", {**body, "stream": True}, headers)
                       for _ in range(args.inferences)]
        finally:
            hive.stop()
            hub.stop()
    ms = 1e3
    print(f"spawn to ready: hive p50 {statistics.median(via_spawn) * ms:.1f} ms, worker by hand p50 "
          f"{statistics.median(direct_spawn) * ms:.1f} ms, "
          f"ratio {statistics.median(via_spawn) / statistics.median(direct_spawn):.2f}x")
    dp50, hp50 = statistics.median(direct) * ms, statistics.median(via) * ms
    print(f"streamed inference: direct p50 {dp50:.2f} ms, through the hive p50 {hp50:.2f} ms, "
          f"routing adds {hp50 - dp50:.2f} ms (ratio {hp50 / dp50:.2f}x)")
    print("target: routing adds under 2 ms at p50")
    return 0


if __name__ == "__main__":
    sys.exit(main())
