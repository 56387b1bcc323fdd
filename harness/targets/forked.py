"""Targets forked from a fork server (harness/targets/fork_server.py) that has their modules
imported already, and a handle on each that works as `subprocess.Popen` does for the harness.

A forked target is not the harness's child, so it is reached through a pidfd opened while the
server still holds it unreaped: signals go to that process and no other, however pids are reused,
and its exit shows on the pidfd the moment the kernel reports it (as `exited_within` expects).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.targets.logs import log_tail

SERVER_SCRIPT = Path(__file__).with_name("fork_server.py")
REPLY_TIMEOUT = 30.0   # real seconds: importing a large preload (LiteLLM's) on a loaded machine


class ForkServerError(Exception):
    """The fork server would not start, died, or refused a start; the message says why."""


@dataclass(frozen=True)
class ServerKey:
    interpreter: str
    cwd: str | None
    modules: tuple[str, ...]


class ForkServer:
    """One server process, its two pipes and its log; requests are answered one at a time."""

    def __init__(self, key: ServerKey) -> None:
        self.key = key
        self._lock = threading.Lock()
        self._dir = Path(tempfile.mkdtemp(prefix="faultline-fork-server-"))
        self.log_path = self._dir / "fork-server.log"
        request_read, self._request_fd = os.pipe()
        self._reply_fd, reply_write = os.pipe()
        try:
            with self.log_path.open("wb") as log:
                # The server shares the harness's process group: it ignores Ctrl-C and SIGTERM, and
                # exits when the pipe closes, removing its directory.
                self._popen = subprocess.Popen(
                    [key.interpreter, str(SERVER_SCRIPT), str(self._dir), str(request_read), str(reply_write),
                     *key.modules],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=key.cwd,
                    pass_fds=(request_read, reply_write))
        except OSError as exc:
            self._close_pipes()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise ForkServerError(f"cannot run {key.interpreter!r}: {exc.strerror}") from None
        finally:
            os.close(request_read)
            os.close(reply_write)
        self._requests: IO[str] = open(self._request_fd, "w", encoding="utf-8", closefd=False)
        self._replies: IO[str] = open(self._reply_fd, encoding="utf-8", closefd=False)

    def start(self, module: str, argv: list[str], env: dict[str, str], cwd: str | None, log: Path) -> ForkedProcess:
        reply = self._ask({"start": {"module": module, "argv": argv, "env": env, "cwd": cwd or os.getcwd(),
                                     "log": str(log)}})
        if "pid" not in reply:
            raise ForkServerError(str(reply.get("error", reply)))
        return ForkedProcess(int(reply["pid"]), self)

    def reap(self, pid: int) -> int:
        return int(self._ask({"reap": pid})["returncode"])

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            try:
                self._requests.write(json.dumps(request) + "\n")
                self._requests.flush()
            except OSError:
                raise self._died() from None
            if not select.select([self._reply_fd], [], [], REPLY_TIMEOUT)[0]:
                raise ForkServerError(f"the fork server did not answer within {REPLY_TIMEOUT:g} s:\n"
                                      f"{log_tail(self.log_path)}")
            line = self._replies.readline()
        if not line:
            raise self._died()
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _died(self) -> ForkServerError:
        code = self._popen.wait(5)
        return ForkServerError(f"the fork server (importing {', '.join(self.key.modules)}) exited with code {code}:\n"
                               f"{log_tail(self.log_path)}")

    def alive(self) -> bool:
        return self._popen.poll() is None

    def close(self) -> None:
        """Close the pipes (the server then exits) and wait for it; kill it (by its pid) if it hangs."""
        self._requests.close()
        self._replies.close()
        self._close_pipes()
        try:
            self._popen.wait(5)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()
        shutil.rmtree(self._dir, ignore_errors=True)   # the server removes it unless it died first

    def _close_pipes(self) -> None:
        """Once only: a number closed twice may by then be another file's."""
        for fd in (self._request_fd, self._reply_fd):
            if fd >= 0:
                os.close(fd)
        self._request_fd = self._reply_fd = -1


class ForkedProcess:
    """`subprocess.Popen`'s pid, returncode, poll, wait, send_signal and kill for a forked target."""

    def __init__(self, pid: int, server: ForkServer) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._server = server
        self._pidfd = os.pidfd_open(pid)   # the server has not reaped it yet: the pid is still this process

    def poll(self) -> int | None:
        return self._reaped_within(0.0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._reaped_within(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
        return code

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self._pidfd, signum)
            except ProcessLookupError:   # reaped by another: its server died and init took it over
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _reaped_within(self, timeout: float | None) -> int | None:
        if self.returncode is None and select.select([self._pidfd], [], [], timeout)[0]:
            self.returncode = self._server.reap(self.pid)
            os.close(self._pidfd)
        return self.returncode


_servers: dict[ServerKey, ForkServer] = {}
_servers_lock = threading.Lock()


def fork_server(key: ServerKey) -> ForkServer:
    """This harness process's server for `key`, started on first use and closed at its exit."""
    with _servers_lock:
        server = _servers.get(key)
        if server is not None and not server.alive():
            server.close()
            server = None
        if server is None:
            server = _servers[key] = ForkServer(key)
        return server


@atexit.register
def close_fork_servers() -> None:
    with _servers_lock:
        for server in _servers.values():
            server.close()
        _servers.clear()
