"""A target started from a local Docker image through the Docker SDK.

The container runs with the host's network (`network_mode="host"`): the harness's proxies and
fakes listen on 127.0.0.1 only, and with the host's network 127.0.0.1 inside the container is the
host's loopback, so the placeholders (`{{ port }}`, the providers' proxied URLs) mean the same on
both sides. The target's private directory is bind-mounted at the same path for the same reason:
`{{ config_file }}` and `{{ temp_dir }}` name one file both for the harness and the container.

Every container carries the label `faultline.run=<run id>` (FAULTLINE_RUN_ID, one per test run,
shared by the xdist workers), so `remove_run_containers` can sweep what a run left behind; each
container is also removed by `stop()`, by a context manager, and by a finaliser at interpreter exit.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import uuid
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from harness.errors import TargetStartError, WaitTimeout
from harness.history import EventKind
from harness.ports import PortLease, lease_port
from harness.process_tree import MARKER_ENV
from harness.stop_signals import stop_requests_deferred
from harness.targets.base import TargetContext
from harness.targets.logs import log_tail, log_text
from harness.targets.process import STOP_GRACE, placeholders
from harness.targets.render import render
from harness.targets.spec import TargetSpec
from harness.wait import wait_until

RUN_ENV = "FAULTLINE_RUN_ID"
RUN_LABEL = "faultline.run"
TARGET_LABEL = "faultline.target"
LOG_FILE = "target.log"


def run_id() -> str:
    """This test run's id; the pytest plugin sets it before xdist starts its workers."""
    return os.environ.setdefault(RUN_ENV, uuid.uuid4().hex[:16])


def docker_client(target: str = "docker") -> Any:
    """A client for the daemon DOCKER_HOST names (or the default socket), or TargetStartError."""
    import docker  # imported here: only docker targets need the SDK and a daemon

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except docker.errors.DockerException as exc:
        client_host = os.environ.get("DOCKER_HOST", "the default socket /var/run/docker.sock")
        raise TargetStartError(target, f"cannot reach the Docker daemon at {client_host}: {_reason(exc)}; "
                                         "start dockerd, or set DOCKER_HOST to where it listens") from None
    return client


def remove_run_containers(run: str) -> list[str]:
    """Remove every container labelled with this run's id (and no other); return their names."""
    import docker

    client = docker_client()
    removed = []
    try:
        for container in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run}"}):
            try:
                container.remove(force=True, v=True)
                removed.append(container.name)
            except docker.errors.NotFound:
                continue
    finally:
        client.close()
    return removed


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _discard(client: Any, container_id: str, root: Path) -> None:
    """What a target's finaliser does: remove its container, then its directory."""
    try:
        _remove(client, container_id)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _remove(client: Any, container_id: str) -> None:
    """Force-remove a container; what is already gone is fine."""
    import docker

    try:
        client.api.remove_container(container_id, force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise


def _follow_logs(client: Any, container_id: str, log_path: Path) -> None:
    """Copy the container's stdout and stderr into the log file until the container ends."""
    import docker

    try:
        with log_path.open("ab") as log:
            for chunk in client.api.logs(container_id, stream=True, follow=True):
                log.write(chunk)
                log.flush()
    except (docker.errors.DockerException, OSError, ValueError):
        return  # the container, its directory or the daemon went away: what was copied stays


class DockerTarget:
    def __init__(self, spec: TargetSpec) -> None:
        assert spec.docker is not None
        self.spec = spec

    def start(self, context: TargetContext) -> RunningContainer:
        """Everything made on the way (directory, port lease, client, container) is undone if the
        start fails or a Ctrl-C comes at any point of it."""
        spec, section = self.spec, self.spec.docker
        assert section is not None
        with stop_requests_deferred():  # what is made must be known, to be removed
            root = Path(tempfile.mkdtemp(prefix=f"faultline-{spec.name}-{run_id()}-"))  # leftovers name their run
        lease: PortLease | None = None
        client: Any = None
        running: RunningContainer | None = None
        try:
            temp_dir = root / "tmp"
            temp_dir.mkdir()
            temp_dir.chmod(0o777)  # whichever user the image runs as may write there
            lease = lease_port()
            values = placeholders(spec, context, port=lease.port, temp_dir=str(temp_dir),
                                  base_url=f"http://127.0.0.1:{lease.port}")
            del values["python"]  # the harness's interpreter does not exist inside the image
            if spec.config is not None:
                config_path = root / spec.config.file
                config_path.write_text(render(spec.config.template, values, path=spec.path,
                                              key="config.template"), encoding="utf-8")
                config_path.chmod(0o644)
                values["config_file"] = str(config_path)
            command = [render(a, values, path=spec.path, key=f"docker.command[{i}]")
                       for i, a in enumerate(section.command)]
            entrypoint = None if section.entrypoint is None else [
                render(a, values, path=spec.path, key=f"docker.entrypoint[{i}]")
                for i, a in enumerate(section.entrypoint)]
            env = {k: render(v, values, path=spec.path, key=f"docker.env.{k}") for k, v in section.env.items()}
            marker = uuid.uuid4().hex
            env[MARKER_ENV] = marker
            client = docker_client(spec.name)
            _require_image(client, spec, section.image)
            running = RunningContainer(spec, context, client, root, temp_dir, lease, marker)
            running.launch(section.image, command, entrypoint, env, section.user)
            running.wait_ready()
        except BaseException:
            if running is not None:
                running.stop()  # the container, the client, the directory and the lease
            else:
                if client is not None:
                    client.close()
                if lease is not None:
                    lease.release()
                shutil.rmtree(root, ignore_errors=True)
            raise
        return running


def _require_image(client: Any, spec: TargetSpec, image: str) -> None:
    import docker

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise TargetStartError(spec.name, f"image {image!r} is not on the Docker daemon; build it, "
                                          f"or `docker pull {image}` first (the harness never "
                                          f"pulls); or fix docker.image in {spec.path}") from None
    except docker.errors.DockerException as exc:
        raise TargetStartError(spec.name, f"cannot inspect image {image!r}: {_reason(exc)}") from None


class RunningContainer:
    def __init__(self, spec: TargetSpec, context: TargetContext, client: Any, root: Path, temp_dir: Path,
                 lease: PortLease, marker: str) -> None:
        self.spec, self.context, self.client, self.root = spec, context, client, root
        self.name = spec.name
        self.lease = lease     # held until the container is gone, so no other run is told this port
        self.port = lease.port
        self.base_url = f"http://127.0.0.1:{lease.port}"
        self.log_path = root / LOG_FILE
        self.exit_code: int | None = None
        self.container_id: str | None = None
        self._temp_dir, self._marker = temp_dir, marker
        self._follower: threading.Thread | None = None
        self._finalizer: weakref.finalize[[Any, str, Path], RunningContainer] | None = None

    @property
    def pid(self) -> int | None:
        """The host pid of the container's main process while it runs."""
        state = self._state()
        return (int(state.get("Pid") or 0) or None) if state.get("Running") else None

    @property
    def temp_dir(self) -> Path | None:
        return self._temp_dir

    @property
    def run_marker(self) -> str | None:
        return self._marker

    def __enter__(self) -> RunningContainer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def _record(self, kind: EventKind, **data: Any) -> None:
        if self.context.recorder is not None:
            self.context.recorder.record(kind, f"target:{self.name}", **data)

    def launch(self, image: str, command: list[str], entrypoint: list[str] | None, env: dict[str, str],
               user: str | None) -> None:
        import docker

        name = f"faultline-{self.name}-{self._marker[:12]}"
        try:
            container = self.client.containers.create(
                image, command=command or None, entrypoint=entrypoint, environment=env, user=user,
                network_mode="host", volumes={str(self.root): {"bind": str(self.root), "mode": "rw"}},
                labels={RUN_LABEL: run_id(), TARGET_LABEL: self.name}, name=name, detach=True)
        except docker.errors.APIError as exc:
            raise TargetStartError(self.name, f"cannot create a container from {image!r}: {_reason(exc)}") from None
        except BaseException:
            _remove(self.client, name)  # interrupted after the daemon made it, before we learnt its id
            raise
        self.container_id = container.id
        # Registered before start: whatever happens next, the container goes when the harness does.
        self._finalizer = weakref.finalize(self, _discard, self.client, container.id, self.root)
        # The thread gets no reference to self, so an abandoned target can still be collected (and removed).
        self._follower = threading.Thread(target=_follow_logs, args=(self.client, container.id, self.log_path),
                                          name=f"logs-{self.name}", daemon=True)
        try:
            container.start()
        except docker.errors.APIError as exc:
            raise TargetStartError(self.name, f"cannot start {image!r}: {_reason(exc)}", self.log_tail()) from None
        self._follower.start()
        self._record(EventKind.PROCESS_START, container=container.id[:12], image=image,
                     argv=(entrypoint or []) + command)

    def _state(self) -> dict[str, Any]:
        import docker

        if self.container_id is None:
            return {}
        try:
            return dict(self.client.api.inspect_container(self.container_id).get("State") or {})
        except docker.errors.DockerException:
            return {}

    def is_running(self) -> bool:
        return bool(self._state().get("Running"))

    def _exited(self) -> int | None:
        state = self._state()
        if not state or state.get("Status") in ("exited", "dead"):
            code = int(state.get("ExitCode", -1)) if state else -1
            if self.exit_code is None:
                self.exit_code = code
                self._record(EventKind.PROCESS_EXIT, container=(self.container_id or "")[:12], exit_code=code)
            return code
        return None

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def log_text(self) -> str:
        return log_text(self.log_path)

    def _full_log_tail(self) -> str:
        """The tail once the follower has copied everything (it ends with the container)."""
        if self._follower is not None and self._follower.is_alive():
            self._follower.join(timeout=2.0)
        return self.log_tail()

    def wait_ready(self) -> None:
        readiness = self.spec.readiness
        url = self.base_url + readiness.path
        last = ["no answer yet"]

        def ready() -> bool:
            code = self._exited()
            if code is not None:
                raise TargetStartError(self.name, f"container exited with code {code} before becoming ready",
                                       self._full_log_tail(), exit_code=code)
            try:
                status = httpx.get(url, timeout=1.0).status_code
            except httpx.TransportError as exc:
                last[0] = f"GET {readiness.path}: {type(exc).__name__}"
                return False
            last[0] = f"GET {readiness.path} answered {status}"
            if status != readiness.status:
                return False
            self._record(EventKind.NOTE, what="ready", container=(self.container_id or "")[:12])
            return True

        try:
            wait_until(ready, timeout=readiness.timeout, what=f"{self.name} to answer", interval=0.05)
        except WaitTimeout:
            raise TargetStartError(self.name, f"not ready after {readiness.timeout:g}s ({last[0]})",
                                   self.log_tail()) from None

    def send_signal(self, signum: signal.Signals) -> None:
        import docker

        if self.container_id is not None and self.is_running():
            self._record(EventKind.SIGNAL_SENT, container=self.container_id[:12], signal=signum.name)
            try:
                self.client.api.kill(self.container_id, signal=signum.name)
            except docker.errors.APIError:
                pass  # it exited in between

    def wait_exit(self, timeout: float) -> int | None:
        """The container's exit code once it exits within `timeout`, else None."""
        try:
            wait_until(lambda: self._exited() is not None, timeout=timeout, what=f"{self.name} to exit",
                       interval=0.02)
        except WaitTimeout:
            return None
        return self.exit_code

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM, up to `grace` s, SIGKILL (docker stop); then remove the container and its directory."""
        import docker

        try:
            if self.container_id is not None:
                try:
                    self.client.api.stop(self.container_id, timeout=max(1, round(grace)))
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError:
                    pass  # removal below forces it
                self._exited()
                if self._follower is not None and self._follower.is_alive():
                    self._follower.join(timeout=2.0)
        finally:
            try:
                if self._finalizer is not None:
                    self._finalizer()  # removes it now, and only once
            finally:
                self.client.close()
                shutil.rmtree(self.root, ignore_errors=True)
                self.lease.release()
