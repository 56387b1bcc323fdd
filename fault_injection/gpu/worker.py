"""A fake llm-worker-rbee: `python -m fault_injection.gpu.worker` with rbee's flags.

    --worker-id --model --model-ref --backend {cpu,cuda,metal} --device --port --callback-url
    env FAULTLINE_GPU_PLAN (required), FAULTLINE_WORKER_JOURNAL (optional, JSON lines)

Life: journal `start`; a cuda device that is missing from the plan or fails init exits 1 with
CUDA_DEVICE_FAILED on stderr and never listens (no fallback, seed 000 Pattern 3); load (slow_load
seconds); oom_at_load exits 1 with GPU_VRAM_EXHAUSTED; bind 127.0.0.1:--port; POST the ready
callback (a non-2xx exits 1, as in rbee); serve until SIGTERM/SIGINT or POST /v1/shutdown, then
exit 0. Unlike rbee, the port is bound before the callback, so a ready worker always accepts.

Exit codes: 0 clean stop, 1 start-up failure, 2 bad flags, 101 crash fault; SIGKILL shows as -9.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fault_injection.gpu.journal import Journal
from fault_injection.gpu.plan import PLAN_ENV, DeviceFaults, GpuPlan, PlanError, load_plan

STARTUP_FAILED = 1
CALLBACK_TIMEOUT = 10.0  # real seconds
CHECK_DRIVERS = "Check GPU drivers and device availability, or explicitly select the CPU backend"


@dataclass(frozen=True)
class WorkerArgs:
    worker_id: str
    model: str
    model_ref: str
    backend: str
    device: int
    port: int
    callback_url: str


def parse_args(argv: list[str]) -> WorkerArgs:
    parser = argparse.ArgumentParser(prog="llm-worker-rbee")
    for flag in ("--worker-id", "--model", "--model-ref", "--callback-url"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--backend", required=True, choices=["cpu", "cuda", "metal"])
    parser.add_argument("--device", required=True, type=int)
    parser.add_argument("--port", required=True, type=int)
    ns = parser.parse_args(argv)
    return WorkerArgs(ns.worker_id, ns.model, ns.model_ref, ns.backend, ns.device, ns.port, ns.callback_url)


class StartupFailure(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


def envelope(error: StartupFailure, correlation_id: str) -> str:
    return json.dumps({"error": {"code": error.code, "message": error.message,
                                 "details": error.details, "correlation_id": correlation_id}})


def device_faults(plan: GpuPlan, args: WorkerArgs) -> tuple[DeviceFaults, int]:
    """The faults and VRAM bytes that apply; raises StartupFailure for an unusable GPU."""
    if args.backend == "cpu":
        return DeviceFaults(), 0
    details: dict[str, Any] = {"device": args.device, "backend": args.backend, "model": args.model_ref,
                               "suggested_action": CHECK_DRIVERS}
    if args.backend == "metal":
        raise StartupFailure("BACKEND_UNAVAILABLE", "no Metal device on this machine", details)
    device = plan.device(args.device)
    if device is None:
        reason = "no CUDA-capable device is detected" if not plan.devices else "invalid device ordinal"
        raise StartupFailure("CUDA_DEVICE_FAILED", f"CUDA device {args.device} initialization failed: {reason}",
                             details)
    if device.faults.init_failure:
        raise StartupFailure("CUDA_DEVICE_FAILED",
                             f"CUDA device {args.device} initialization failed: CUDA_ERROR_NO_DEVICE", details)
    return device.faults, device.memory_total_mib - device.memory_free_mib


def oom_at_load(plan: GpuPlan, args: WorkerArgs) -> StartupFailure:
    device = plan.device(args.device)
    free = device.memory_free_mib if device else 0
    return StartupFailure("GPU_VRAM_EXHAUSTED", f"GPU {args.device} ran out of memory loading {args.model_ref}",
                          {"device": args.device, "model": args.model_ref, "available_vram_mib": free,
                           "suggested_action": "Use a smaller model, or explicitly select the CPU backend"})


def bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def send_ready(args: WorkerArgs, journal: Journal) -> None:
    import httpx  # only workers that get this far pay for the import

    payload = {"worker_id": args.worker_id, "url": f"http://127.0.0.1:{args.port}", "model_ref": args.model_ref,
               "backend": args.backend, "device": args.device}
    try:
        async with httpx.AsyncClient(timeout=CALLBACK_TIMEOUT, trust_env=False) as client:
            answer = await client.post(args.callback_url, json=payload)
    except httpx.HTTPError as exc:
        journal.write("ready_callback", url=args.callback_url, payload=payload, error=str(exc) or type(exc).__name__)
        raise StartupFailure("WORKER_CALLBACK_FAILED", f"ready callback failed: {exc}",
                             {"callback_url": args.callback_url, "suggested_action": "Check the hive"}) from None
    journal.write("ready_callback", url=args.callback_url, payload=payload, status=answer.status_code)
    if not answer.is_success:
        raise StartupFailure("WORKER_CALLBACK_FAILED", f"ready callback answered {answer.status_code}",
                             {"callback_url": args.callback_url, "status": answer.status_code,
                              "suggested_action": "Check the hive"})


class Stopper:
    """Turns SIGTERM/SIGINT and /v1/shutdown into one event; journals every signal."""

    def __init__(self, journal: Journal, ignore_sigterm: bool) -> None:
        self.journal, self.ignore_sigterm = journal, ignore_sigterm
        self.event = asyncio.Event()
        self.reason = ""

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal, sig)

    def on_signal(self, sig: signal.Signals) -> None:
        ignored = sig == signal.SIGTERM and self.ignore_sigterm
        self.journal.write("signal", signal=sig.name, ignored=ignored)
        if not ignored:
            self.stop(sig.name)

    def stop(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()

    async def wait(self, seconds: float) -> bool:
        """Sleep `seconds` unless stopped first; True if stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), seconds)
        return self.event.is_set()


async def run(args: WorkerArgs, plan: GpuPlan, journal: Journal) -> tuple[int, str]:
    faults, vram_mib = device_faults(plan, args)
    stopper = Stopper(journal, faults.ignore_sigterm)
    stopper.install()
    load_seconds = plan.real_seconds(faults.slow_load_seconds)
    journal.write("loading", load_seconds=load_seconds)  # from here on, signals are journaled
    if await stopper.wait(load_seconds):
        return 0, stopper.reason
    if faults.oom_at_load:
        raise oom_at_load(plan, args)
    journal.write("loaded")
    try:
        sock = bind(args.port)
    except OSError as exc:
        raise StartupFailure("PORT_BIND_FAILED", f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}",
                             {"port": args.port, "suggested_action": "Pick a free port"}) from None
    journal.write("listening", port=args.port)
    await send_ready(args, journal)
    return await serve(sock, plan, faults, vram_mib, journal, stopper), stopper.reason


async def serve(sock: socket.socket, plan: GpuPlan, faults: DeviceFaults, vram_mib: int, journal: Journal,
                stopper: Stopper) -> int:
    import uvicorn

    from fault_injection.gpu.worker_http import WorkerState, build_app

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the Stopper owns the signals
            yield

    state = WorkerState(plan, faults, journal, vram_mib * 1024 * 1024, lambda: stopper.stop("shutdown_request"),
                        stopper.event)
    server = Server(uvicorn.Config(build_app(state), log_level="warning", lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    stop = asyncio.create_task(stopper.event.wait())
    await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    # Open streams end themselves on the stop event; give them a moment so none is cancelled mid-send.
    for _ in range(100):
        if not state.active_jobs:
            break
        await asyncio.sleep(0.01)
    # No graceful server shutdown: uvicorn polls should_exit every 0.1 s, which a hive's scaled
    # cleanup timeout cannot afford. The process exits right after journaling, sockets and all.
    server.should_exit = server.force_exit = True
    stop.cancel()
    task.cancel()
    await asyncio.wait({task}, timeout=0.05)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    journal = Journal.from_env(worker_id=args.worker_id)
    journal.write("start", argv=sys.argv[1:] if argv is None else argv, backend=args.backend, device=args.device,
                  model=args.model, model_ref=args.model_ref, port=args.port, callback_url=args.callback_url)
    try:
        path = os.environ.get(PLAN_ENV)
        if not path:
            raise StartupFailure("WORKER_MISCONFIGURED", f"{PLAN_ENV} is not set",
                                 {"suggested_action": f"Set {PLAN_ENV} to a GPU plan file"})
        try:
            plan = load_plan(path)
        except PlanError as exc:
            raise StartupFailure("WORKER_MISCONFIGURED", str(exc), {"suggested_action": "Fix the GPU plan"}) from None
        code, reason = asyncio.run(run(args, plan, journal))
    except StartupFailure as failure:
        journal.write("startup_failed", code=failure.code, message=failure.message, details=failure.details)
        print(envelope(failure, args.worker_id), file=sys.stderr, flush=True)
        code, reason = STARTUP_FAILED, failure.code
    journal.write("exit", code=code, reason=reason)
    return code


if __name__ == "__main__":
    # Leave as soon as the exit is journaled: interpreter teardown is not part of the contract,
    # and a hive's cleanup timeout (scaled down in tests) must not be spent on it.
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
