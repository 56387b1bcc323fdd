"""Worker processes: start with rbee's flags in their own process group, watch, stop with escalation.

Stop: SIGTERM to the worker's process group, a grace, then SIGKILL, so that even a worker ignoring
SIGTERM is gone, and the hive itself can be, within the cleanup timeout: the grace leaves room for
the kill, the reaping and the hive's own exit, which take real time whatever the time scale. How a worker ended is
kept: its exit code, or 128 + signal (143 after SIGTERM, 137 after SIGKILL).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from reference.common.clock import ScaledClock
from reference.hive.validation import SpawnRequest

log = logging.getLogger("reference.hive.workers")
KILL_REAP_FLOOR = 1.0  # real seconds
# Real seconds kept from the cleanup timeout for SIGKILL, reaping and the hive's own exit, which
# take longer on a loaded machine.
SHUTDOWN_RESERVE = 0.8
MIN_TERM_GRACE = 0.3  # share of the cleanup timeout a worker always gets to honour SIGTERM


class WorkerState(StrEnum):
    LOADING = "loading"
    IDLE = "idle"
    BUSY = "busy"
    STOPPING = "stopping"
    EXITED = "exited"


def exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(eq=False)
class Worker:
    id: str
    request: SpawnRequest
    port: int
    temp_dir: Path
    process: asyncio.subprocess.Process
    slots_total: int
    started_at: float = field(default_factory=time.time)
    ready: bool = False
    stopping: bool = False
    active: int = 0
    exit_code: int | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    became_ready: asyncio.Event = field(default_factory=asyncio.Event)
    stderr_closed: asyncio.Event = field(default_factory=asyncio.Event)
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=64))

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.exit_code is None

    @property
    def state(self) -> WorkerState:
        if not self.alive:
            return WorkerState.EXITED
        if self.stopping:
            return WorkerState.STOPPING
        if not self.ready:
            return WorkerState.LOADING
        return WorkerState.BUSY if self.active >= self.slots_total else WorkerState.IDLE

    @property
    def routable(self) -> bool:
        return self.alive and self.ready and not self.stopping

    def info(self) -> dict[str, Any]:
        return {"worker_id": self.id, "url": self.url, "model_ref": self.request.model.text,
                "backend": self.request.backend, "device": self.request.device, "state": str(self.state),
                "pid": self.pid, "port": self.port, "slots_total": self.slots_total,
                "slots_available": max(self.slots_total - self.active, 0) if self.routable else 0,
                "exit_code": self.exit_code}


class Supervisor:
    def __init__(self, command: tuple[str, ...], env: dict[str, str], temp_dir: Path, clock: ScaledClock,
                 cleanup: float, slots_per_worker: int, on_change: Callable[[], None],
                 escalate: bool = True, remove_temp: bool = True, term_grace: float | None = None) -> None:
        self.command, self.env, self.temp_dir, self.clock = command, env, temp_dir, clock
        self.cleanup, self.slots_per_worker, self.on_change = cleanup, slots_per_worker, on_change
        self.escalate, self.remove_temp, self.fixed_term_grace = escalate, remove_temp, term_grace
        self.workers: dict[str, Worker] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, request: SpawnRequest, model_path: Path, callback_url: str) -> Worker:
        """Raises OSError when the worker command cannot be run at all."""
        worker_id = f"worker-{uuid.uuid4().hex[:12]}"
        port = free_port()
        scratch = self.temp_dir / worker_id
        scratch.mkdir(parents=True, exist_ok=True)
        argv = self.argv(worker_id, request, model_path, port, callback_url)
        try:
            # Its own session: a stop reaches the worker's children too, and a terminal ^C does not.
            process = await asyncio.create_subprocess_exec(
                *argv, env={**os.environ, **self.env, "TMPDIR": str(scratch)}, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        except OSError:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        worker = Worker(worker_id, request, port, scratch, process, self.slots_per_worker)
        self.workers[worker_id] = worker
        log.info("started %s pid=%d backend=%s device=%d port=%d", worker_id, worker.pid, request.backend,
                 request.device, port)
        self._watch(worker)
        return worker

    def argv(self, worker_id: str, request: SpawnRequest, model_path: Path, port: int, callback_url: str) -> list[str]:
        """The worker command with rbee's flags."""
        return [*self.command, "--worker-id", worker_id, "--model", str(model_path),
                "--model-ref", request.model.text, "--backend", request.backend,
                "--device", str(request.device), "--port", str(port), "--callback-url", callback_url]

    def _watch(self, worker: Worker) -> None:
        for job in (self._read_stderr(worker), self._await_exit(worker)):
            task = asyncio.get_running_loop().create_task(job)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _read_stderr(self, worker: Worker) -> None:
        stream = worker.process.stderr
        assert stream is not None
        try:
            while True:
                try:
                    line = await stream.readline()
                except ValueError:  # a line longer than the reader's limit: keep going with the rest
                    line = await stream.read(65536)
                if not line:
                    break
                text = line.decode("utf-8", "replace").rstrip()
                worker.stderr_tail.append(text)
                log.debug("%s stderr: %s", worker.id, text[:500])  # may quote a prompt: not at INFO
        finally:
            worker.stderr_closed.set()

    async def _await_exit(self, worker: Worker) -> None:
        returncode = await worker.process.wait()
        worker.exit_code = self.status_of(returncode)
        if self.remove_temp:
            self.remove_scratch(worker)
        log.info("%s ended exit_code=%d", worker.id, worker.exit_code)
        worker.ended.set()
        worker.became_ready.set()  # wake a spawn still waiting for the callback
        self.on_change()

    def status_of(self, returncode: int) -> int:
        """How a worker ended, as reported: its exit code, or 128 + the signal that ended it."""
        return exit_status(returncode)

    def remove_scratch(self, worker: Worker) -> None:
        shutil.rmtree(worker.temp_dir, ignore_errors=True)

    def mark_ready(self, worker_id: str) -> bool:
        worker = self.workers.get(worker_id)
        if worker is None or worker.ready or not worker.alive or worker.stopping:
            return False
        worker.ready = True
        worker.became_ready.set()
        return True

    def _signal(self, worker: Worker, sig: signal.Signals) -> None:
        try:
            os.killpg(worker.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def stop(self, worker: Worker) -> int | None:
        """SIGTERM, up to the cleanup timeout, then SIGKILL; the exit status, or None if it outlived us."""
        if not worker.alive:
            return worker.exit_code
        worker.stopping = True
        self.on_change()
        self._signal(worker, signal.SIGTERM)
        grace = self.term_grace()
        if await self._ended_within(worker, grace if self.escalate else self.cleanup):
            return worker.exit_code
        if not self.escalate:
            log.error("%s ignored SIGTERM; leaving it running", worker.id)
            return None
        log.warning("%s ignored SIGTERM for %gs; SIGKILL", worker.id, grace)
        self._signal(worker, signal.SIGKILL)
        # SIGKILL cannot be ignored; only the reaping is left, which must not be cut short at small scales.
        await self._ended_within(worker, self.cleanup - grace, at_least=KILL_REAP_FLOOR)
        return worker.exit_code

    def term_grace(self) -> float:
        """Spec seconds a worker gets between SIGTERM and SIGKILL."""
        if self.fixed_term_grace is not None:
            return self.fixed_term_grace
        reserve = SHUTDOWN_RESERVE / self.clock.scale if self.clock.scale > 0 else 0.0
        return max(self.cleanup * MIN_TERM_GRACE, self.cleanup - reserve)

    async def _ended_within(self, worker: Worker, spec_seconds: float, at_least: float = 0.0) -> bool:
        try:
            await asyncio.wait_for(worker.ended.wait(), max(self.clock.real(spec_seconds), at_least))
        except TimeoutError:
            return False
        return True

    def stop_later(self, worker: Worker) -> None:
        """Stop in the background (a hung worker after a timeout); shutdown still waits for it."""
        task = asyncio.get_running_loop().create_task(self._stop_quietly(worker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stop_quietly(self, worker: Worker) -> None:
        await self.stop(worker)

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(w) for w in list(self.workers.values()) if w.alive))

    def live(self) -> list[Worker]:
        return [w for w in self.workers.values() if w.alive]
