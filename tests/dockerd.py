"""A Docker daemon for the tests: the one already running, or one started here (and only that
one stopped again, by its pid).

Where no daemon answers, this installs Debian's docker.io (as root, where apt-get exists) and
starts `dockerd` with its own socket, pid file, data and exec roots in a private directory, with
no bridge and no iptables rules: the harness's containers use the host's network, so the host's
network configuration is left untouched. `DaemonUnavailable` says why none could run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.errors import TargetStartError, WaitTimeout
from harness.wait import wait_until

DEFAULT_SOCKET = Path("/var/run/docker.sock")
INSTALL_TIMEOUT = 600.0
START_TIMEOUT = 60.0
STOP_GRACE = 30.0


class DaemonUnavailable(Exception):
    """No Docker daemon can run here; the message is the reason a test skips with."""


@dataclass(frozen=True)
class Daemon:
    host: str              # a DOCKER_HOST value
    started_pid: int | None  # the dockerd started here; None when it was already running


def _answers(host: str) -> bool:
    from harness.targets.docker import docker_client

    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = host
    try:
        docker_client().close()
        return True
    except TargetStartError:
        return False
    finally:
        if previous is None:
            del os.environ["DOCKER_HOST"]
        else:
            os.environ["DOCKER_HOST"] = previous


def _running_daemon() -> str | None:
    candidates = [os.environ["DOCKER_HOST"]] if os.environ.get("DOCKER_HOST") else []
    if DEFAULT_SOCKET.exists():
        candidates.append(f"unix://{DEFAULT_SOCKET}")
    return next((host for host in candidates if _answers(host)), None)


def _install_docker_io() -> None:
    """apt-get install docker.io, once: xdist workers wait for each other on a lock file."""
    if shutil.which("apt-get") is None:
        raise DaemonUnavailable("dockerd is not installed and there is no apt-get to install docker.io")
    with open(__file__, "rb") as lock:  # this module itself is the lock: nothing to leave behind
        fcntl.flock(lock, fcntl.LOCK_EX)
        if shutil.which("dockerd") is None:
            _apt_install()


def _apt_install() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "docker.io"]):
        try:
            done = subprocess.run(step, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise DaemonUnavailable(f"{' '.join(step)} did not finish within {INSTALL_TIMEOUT:g}s") from None
        if done.returncode != 0:
            raise DaemonUnavailable(f"{' '.join(step)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    if shutil.which("dockerd") is None:
        raise DaemonUnavailable("docker.io was installed but dockerd is not on PATH")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # dockerd stops its containerd and containers itself
        try:
            proc.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait(STOP_GRACE)


def _mounts_under(root: Path) -> list[str]:
    with open("/proc/mounts", encoding="utf-8") as mounts:
        return [line.split()[1] for line in mounts if line.split()[1].startswith(str(root))]


@contextmanager
def docker_daemon() -> Iterator[Daemon]:
    """The running daemon, else one started here for the duration of the block."""
    running = _running_daemon()
    if running is not None:
        yield Daemon(running, None)
        return
    if os.geteuid() != 0:
        raise DaemonUnavailable("no Docker daemon answers and starting one needs root")
    if shutil.which("dockerd") is None:
        _install_docker_io()
    root = Path(tempfile.mkdtemp(prefix="fl-dockerd-"))  # short: unix socket paths are limited
    host = f"unix://{root}/docker.sock"
    log_path = root / "dockerd.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["dockerd", "--host", host, "--pidfile", str(root / "docker.pid"), "--data-root", str(root / "data"),
             "--exec-root", str(root / "exec"), "--bridge=none", "--iptables=false"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        try:
            wait_until(lambda: proc.poll() is not None or _answers(host), timeout=START_TIMEOUT,
                       what="dockerd to answer", interval=0.2)
        except WaitTimeout:
            raise DaemonUnavailable(f"dockerd did not answer within {START_TIMEOUT:g}s: "
                                    f"{log_path.read_text(errors='replace')[-800:]}") from None
        if proc.poll() is not None:
            raise DaemonUnavailable(f"dockerd exited with {proc.returncode}: "
                                    f"{log_path.read_text(errors='replace')[-800:]}")
        yield Daemon(host, proc.pid)
    finally:
        _stop(proc)
        for mount in sorted(_mounts_under(root), reverse=True):  # what a killed dockerd left mounted
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
