"""TCP ports on loopback for things that must be told their port before they start.

A port found by binding port 0 and closing the socket can be taken by anyone before the target
binds it: the kernel hands the same ephemeral ports to outgoing connections, and another run on
the same machine may pick it too. So a target's port is *leased*: drawn from below the kernel's
ephemeral range (outgoing connections never use it) and held, until the target is gone, by a
socket in the abstract Unix namespace named after it, which every faultline process on the
machine respects and the kernel frees if the holder dies. Nothing is left on disk.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, field

from harness.errors import HarnessError

LEASE_RANGE = range(20000, 32768)   # below Linux's default ephemeral range, 32768-60999
ATTEMPTS = 500


@dataclass
class PortLease:
    port: int
    _holder: socket.socket | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._holder is not None:
            self._holder.close()
            self._holder = None


def lease_port(host: str = "127.0.0.1") -> PortLease:
    """A port no other faultline process holds and nothing listens on, held until released."""
    for port in random.sample(LEASE_RANGE, ATTEMPTS):
        holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            holder.bind(f"\0faultline-port-{port}")
        except OSError:
            holder.close()
            continue
        if _bindable(host, port):
            return PortLease(port, holder)
        holder.close()
    raise HarnessError(f"no free port in {LEASE_RANGE.start}-{LEASE_RANGE.stop - 1} on {host} after {ATTEMPTS} tries")


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral port free now, for tests that need a port nobody listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
