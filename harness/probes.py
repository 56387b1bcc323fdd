"""Leak probes: what a system under test still holds after it should have let go."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.history import EventKind, History


@dataclass(frozen=True)
class LeftoverProcess:
    pid: int
    cmdline: str

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.cmdline}"


def _describe(proc: psutil.Process) -> LeftoverProcess | None:
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return LeftoverProcess(proc.pid, " ".join(proc.cmdline()))
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def processes_of_tree(root_pid: int) -> list[LeftoverProcess]:
    """Live descendants of `root_pid` (not the root itself)."""
    try:
        children = psutil.Process(root_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in map(_describe, children) if p is not None]


def processes_with_argument(flag: str, value: str) -> list[LeftoverProcess]:
    """Live processes whose argv holds `flag value` (or `flag=value`), e.g. --worker-id w-1."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        argv = proc.info.get("cmdline") or []
        pairs = zip(argv, argv[1:], strict=False)
        if any(a == flag and b == value for a, b in pairs) or f"{flag}={value}" in argv:
            described = _describe(proc)
            if described is not None:
                found.append(described)
    return found


def listening_ports(ports: Iterable[int]) -> set[int]:
    """Which of `ports` something on this machine still listens on."""
    wanted = set(ports)
    held = set()
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port in wanted:
            held.add(conn.laddr.port)
    return held


def connections_to(root_pid: int, port: int) -> list[str]:
    """The TCP sockets the process tree of `root_pid` still holds to `port` (any address, any
    state: a socket its peer closed stays in CLOSE_WAIT until the process closes it), described."""
    try:
        root = psutil.Process(root_pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    held = []
    for process in processes:
        try:
            sockets = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        held += [f"pid {process.pid}: {s.laddr.ip}:{s.laddr.port} -> {s.raddr.ip}:{s.raddr.port} {s.status}"
                 for s in sockets if s.raddr and s.raddr.port == port]
    return held


def temp_dir_contents(path: Path) -> list[str]:
    """Everything left under `path`, as relative paths; a missing directory counts as empty."""
    if not path.exists():
        return []
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def own_connections(history: History, source: str) -> frozenset[int]:
    """Connections of a fake that carried only the implementation's own requests (model
    listings, probes) and no attempt: evidence, but no client's call held them."""
    own = {e.data.get("connection") for e in history.events(EventKind.OWN_REQUEST, source)}
    calls = {e.data.get("connection") for e in history.events(EventKind.REQUEST, source)}
    return frozenset(c for c in own - calls if isinstance(c, int))


def open_connections(history: History, source: str) -> int:
    """Connections a fake or proxy saw open and not yet close, from the recorded history."""
    opened = len(history.events(EventKind.CONNECTION_OPEN, source))
    closed = len(history.events(EventKind.CONNECTION_CLOSE, source))
    return opened - closed


def process_remains(pid: int, started: float) -> str | None:
    """What is left of the process `pid` that started by `started` (epoch seconds): its status
    ("running", "sleeping", "zombie", ...), or None once it is gone. A zombie is not gone: nothing
    reaped it. A pid the kernel has since given to a younger process is gone (creation times are
    known to within the boot time's whole second)."""
    try:
        process = psutil.Process(pid)
        if process.create_time() > started + 1.0:
            return None
        return str(process.status())
    except psutil.NoSuchProcess:
        return None
