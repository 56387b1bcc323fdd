"""A fork server for targets started as `python -m MODULE ...`: it imports the modules a target
file names once, then forks each target from itself, so a target skips the interpreter's start
and those imports (about 0.3 s of CPU for each reference, started once per scenario).

Run by the target's own interpreter as a script, so it imports nothing of the harness:

    python fork_server.py DIRECTORY REQUEST_FD REPLY_FD MODULE [MODULE ...]

DIRECTORY holds the server's log; the server removes it when the request pipe closes.

One JSON request per line on REQUEST_FD, one JSON reply per line on REPLY_FD:

    {"start": {"module", "argv", "env", "cwd", "log"}}  ->  {"pid": N} | {"error": "..."}
    {"reap": N}   ->  {"returncode": C}   (C as subprocess reports it: -SIGNAL when killed)

A started target is a process of its own: a new session, stdin from /dev/null, stdout and
stderr to its log, its own environment, directory and argv, the signal dispositions of a
fresh interpreter; what the preload made is frozen for the garbage collector (gc.freeze, as
Python's documentation advises for a server that forks). It stays a zombie until reaped on
request, so its pid is never reused while the harness may still signal it. The server ignores
SIGINT and SIGTERM, which reach it with the rest of the harness's process group: a stop is the
harness's to handle, and it needs the server to reap the targets it stops. The server exits when
the request pipe closes, first stopping the targets the harness left running (it was killed) and
removing its directory (the harness may not have lived to: a pytest-xdist worker that is slow to
stop is killed, or leaves by `os._exit`, without running its exit handlers).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import runpy
import shutil
import signal
import sys
import threading
import time
import traceback
from contextlib import suppress
from typing import Any

ORPHAN_GRACE = 2.0   # seconds an orphaned target gets to stop on SIGTERM


def serve(requests: Any, replies: Any, forked: set[int]) -> dict[str, Any] | None:
    """Answer requests until the pipe closes (None); in a forked child, return its start request.
    `forked` holds the targets started and not yet reaped."""
    for line in requests:
        request = json.loads(line)
        if "reap" in request:
            _, status = os.waitpid(int(request["reap"]), 0)
            forked.discard(int(request["reap"]))
            reply: dict[str, Any] = {"returncode": os.waitstatus_to_exitcode(status)}
        else:
            start = request["start"]
            if threading.active_count() != 1:   # forking a process with threads can copy a held lock
                reply = {"error": "a preloaded module started a thread; the target cannot be forked safely"}
            else:
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    return dict(start)
                forked.add(pid)
                reply = {"pid": pid}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    return None


def stop_orphans(forked: set[int]) -> None:
    """The harness closed the pipe without stopping these targets: it was killed, and nothing else
    will stop them. Each is this server's unreaped child and leads its own session, so its pid and
    its process group are still its own: SIGTERM the group (a hive stops its workers), SIGKILL what
    is left after ORPHAN_GRACE, and reap."""
    for pid in forked:
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + ORPHAN_GRACE
    running = set(forked)
    while running and time.monotonic() < deadline:
        running = {pid for pid in running if os.waitpid(pid, os.WNOHANG) == (0, 0)}
        time.sleep(0.01)
    for pid in running:
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def become_target(start: dict[str, Any], control: tuple[int, int]) -> None:
    """In the forked child: take on the target's session, files, environment and argv, then run
    its module as `python -m` would (its exit, exit code and atexit handlers are the interpreter's)."""
    os.setsid()
    for fd in control:
        os.close(fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(start["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.chdir(start["cwd"])
    os.environ.clear()
    os.environ.update(start["env"])
    sys.path[0] = os.getcwd()   # what `python -m` puts first
    sys.argv = [sys.argv[0], *start["argv"]]
    runpy.run_module(start["module"], run_name="__main__", alter_sys=True)


def main() -> None:
    directory, request_fd, reply_fd, *modules = sys.argv[1:]
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    sys.path[0] = os.getcwd()
    for module in modules:
        try:
            importlib.import_module(module)
        except BaseException:
            traceback.print_exc()
            print(f"fork server: cannot import {module}", file=sys.stderr, flush=True)
            raise SystemExit(3) from None
    # What the imports made lives as long as any target. Frozen, it is never walked by a target's
    # collections (a full one over the references' 35,000 preloaded objects takes 7-9 ms, a pause
    # their timers would show) nor written to by them, which would copy the pages the fork shares.
    gc.collect()
    gc.freeze()
    control = (int(request_fd), int(reply_fd))
    with open(control[0], encoding="utf-8", closefd=False) as requests, \
            open(control[1], "w", encoding="utf-8", closefd=False) as replies:
        forked: set[int] = set()
        start = serve(requests, replies, forked)
    if start is not None:
        become_target(start, control)
    else:
        stop_orphans(forked)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
