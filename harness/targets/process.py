"""A target started as a local process: render its config, start it, wait until it is ready."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import psutil

from harness.errors import TargetStartError
from harness.history import EventKind
from harness.ports import PortLease, lease_port
from harness.process_tree import (MARKER_ENV, descendants, marked_processes, new_marker, reap_or_kill,
                                  terminate_leaf_first)
from harness.stop_signals import stop_requests_deferred
from harness.targets.base import TargetContext
from harness.targets.forked import ForkServerError, ServerKey, fork_server
from harness.targets.logs import log_tail, log_text
from harness.targets.render import render
from harness.targets.spec import TargetSpec
from harness.http_client import http_client

STOP_GRACE = 5.0


def exited_within(pid: int, timeout: float) -> bool:
    """Block until process `pid` (a child of ours, or a forked target not yet reaped) exits or
    `timeout` passes, without reaping it."""
    try:
        handle = os.pidfd_open(pid)
    except OSError:   # already reaped, or a kernel without pidfds: the caller's wait decides
        return True
    try:
        return bool(select.select([handle], [], [], max(0.0, timeout))[0])
    finally:
        os.close(handle)


def placeholders(spec: TargetSpec, context: TargetContext, **extra: Any) -> dict[str, Any]:
    return {"python": sys.executable, "host": "127.0.0.1", "time_scale": context.time_scale,
            "token": context.token, "target_dir": str(spec.path.parent), **context.values, **extra}


class ProcessTarget:
    def __init__(self, spec: TargetSpec) -> None:
        assert spec.process is not None
        self.spec = spec

    def start(self, context: TargetContext) -> RunningProcess:
        root: Path | None = None
        running: RunningProcess | None = None
        try:
            with stop_requests_deferred():  # what is made must be known, to be removed
                root = Path(tempfile.mkdtemp(prefix=f"faultline-{self.spec.name}-"))
            running = self._prepare(context, root)
            with stop_requests_deferred():
                running.launch()
            running.wait_ready()
        except BaseException:
            if running is not None:
                running.stop()  # removes the directory too
            elif root is not None:
                shutil.rmtree(root, ignore_errors=True)
            raise
        return running

    def _prepare(self, context: TargetContext, root: Path) -> RunningProcess:
        """The rendered config, command and environment, in the target's private directory."""
        spec, section = self.spec, self.spec.process
        assert section is not None
        temp_dir = root / "tmp"
        temp_dir.mkdir()
        lease = lease_port()
        try:
            port = lease.port
            values = placeholders(spec, context, port=port, temp_dir=str(temp_dir),
                                  base_url=f"http://127.0.0.1:{port}")
            if spec.config is not None:
                config_path = root / spec.config.file
                config_path.write_text(render(spec.config.template, values, path=spec.path,
                                              key="config.template"), encoding="utf-8")
                values["config_file"] = str(config_path)
            command = [render(arg, values, path=spec.path, key=f"process.command[{i}]")
                       for i, arg in enumerate(section.command)]
            env = {**os.environ, **{k: render(v, values, path=spec.path, key=f"process.env.{k}")
                                    for k, v in section.env.items()}}
            cwd = render(section.cwd, values, path=spec.path, key="process.cwd") if section.cwd else None
            marker = new_marker()
            env[MARKER_ENV] = marker
        except BaseException:
            lease.release()
            raise
        return RunningProcess(spec, context, root, temp_dir, lease, marker, Launch(command, env, cwd, section.preload))


@dataclass(frozen=True)
class Launch:
    command: list[str]
    env: dict[str, str]
    cwd: str | None
    preload: tuple[str, ...] = ()   # fork `command` (`python -m MODULE ...`) from a server with these imported

    def start(self, log_path: Path) -> ChildProcess:
        if self.preload:
            server = fork_server(ServerKey(self.command[0], self.cwd, self.preload))
            return server.start(self.command[2], self.command[3:], self.env, self.cwd, log_path)
        with log_path.open("wb") as log:
            # A new session keeps the terminal's Ctrl-C away from it: the harness stops it itself.
            return subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    env=self.env, cwd=self.cwd, start_new_session=True)


class ChildProcess(Protocol):
    """What the harness uses of a started target: `subprocess.Popen`, or a forked target's handle."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, signum: int) -> None: ...

    def kill(self) -> None: ...


class RunningProcess:
    def __init__(self, spec: TargetSpec, context: TargetContext, root: Path, temp_dir: Path,
                 lease: PortLease, marker: str, launch: Launch) -> None:
        self.spec, self.context, self.root, self._launch = spec, context, root, launch
        self.name = spec.name
        self.lease = lease     # held until the target is gone, so no other run is told this port
        self.port = lease.port
        self.base_url = f"http://127.0.0.1:{lease.port}"
        self.log_path = root / "target.log"
        self._temp_dir, self._marker = temp_dir, marker
        self._popen: ChildProcess | None = None
        self.exit_code: int | None = None
        self.killed_pids: list[int] = []

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def temp_dir(self) -> Path | None:
        return self._temp_dir

    @property
    def run_marker(self) -> str | None:
        return self._marker

    def _record(self, kind: EventKind, **data: Any) -> None:
        if self.context.recorder is not None:
            self.context.recorder.record(kind, f"target:{self.name}", **data)

    def launch(self) -> None:
        command = self._launch.command
        try:
            self._popen = self._launch.start(self.log_path)
        except OSError as exc:
            raise TargetStartError(self.name, f"cannot run {command[0]!r}: {exc.strerror}") from None
        except ForkServerError as exc:
            raise TargetStartError(self.name, f"cannot fork it from a server importing "
                                              f"{', '.join(self._launch.preload)}: {exc}") from None
        self._record(EventKind.PROCESS_START, pid=self._popen.pid, argv=command)

    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def log_text(self) -> str:
        return log_text(self.log_path)

    def wait_ready(self) -> None:
        readiness = self.spec.readiness
        deadline = time.monotonic() + readiness.timeout
        url = self.base_url + readiness.path
        last = "no answer yet"
        with http_client(1.0) as client:
            while True:
                assert self._popen is not None
                code = self._popen.poll()
                if code is not None:
                    self.exit_code = code
                    self._record(EventKind.PROCESS_EXIT, pid=self._popen.pid, exit_code=code)
                    raise TargetStartError(self.name, f"exited with code {code} before becoming ready",
                                           self.log_tail(), exit_code=code)
                try:
                    response = client.get(url)
                    if response.status_code == readiness.status:
                        self._record(EventKind.NOTE, what="ready", pid=self._popen.pid)
                        return
                    last = f"GET {readiness.path} answered {response.status_code}"
                except httpx.TransportError as exc:
                    last = f"GET {readiness.path}: {type(exc).__name__}"
                if time.monotonic() >= deadline:
                    raise TargetStartError(
                        self.name, f"not ready after {readiness.timeout:g}s ({last})", self.log_tail())
                time.sleep(0.005)

    def send_signal(self, signum: signal.Signals) -> None:
        if self.is_running():
            assert self._popen is not None
            self._record(EventKind.SIGNAL_SENT, pid=self._popen.pid, signal=signum.name)
            self._popen.send_signal(signum)

    def wait_exit(self, timeout: float) -> int | None:
        """The root's exit code once it exits within `timeout`, else None; the exit is recorded
        when the kernel reports it (Popen.wait alone polls, up to 50 ms late)."""
        if self._popen is None:
            return None
        if self._popen.returncode is None:
            exited_within(self._popen.pid, timeout)
        try:
            code = self._popen.wait(0 if self._popen.returncode is None else None)
        except subprocess.TimeoutExpired:
            return None
        if self.exit_code is None:
            self.exit_code = code
            self._record(EventKind.PROCESS_EXIT, pid=self._popen.pid, exit_code=code)
        return code

    def leftover_processes(self) -> list[psutil.Process]:
        """Processes of this target that are still alive: its tree and anything carrying its marker."""
        procs = {p.pid: p for p in marked_processes(self._marker)}
        if self.is_running() and self.pid is not None:
            procs.update({p.pid: p for p in descendants(self.pid)})
            procs.pop(self.pid, None)
        return list(procs.values())

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM the tree leaf first, wait up to `grace` s, SIGKILL what is left; remove its directory.
        A Ctrl-C meanwhile waits for the end (at most twice the grace): an interrupted stop would
        leave the process and its directory behind."""
        with stop_requests_deferred():
            try:
                if self._popen is not None:
                    self._stop_tree(grace)
            finally:
                shutil.rmtree(self.root, ignore_errors=True)
                self.lease.release()

    def _stop_tree(self, grace: float) -> None:
        assert self._popen is not None
        others = self.leftover_processes()
        root = [psutil.Process(self._popen.pid)] if self.is_running() else []
        terminate_leaf_first(others + root)
        deadline = time.monotonic() + grace
        if self.wait_exit(grace) is None:
            self._popen.kill()
            self.killed_pids.append(self._popen.pid)
            self.wait_exit(grace)
        self.killed_pids += reap_or_kill(others, max(0.0, deadline - time.monotonic()))
        self.killed_pids += reap_or_kill(marked_processes(self._marker), 0.0)
