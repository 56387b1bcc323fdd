"""Port leases: a leased port is held against every other faultline process until released."""

from __future__ import annotations

import subprocess
import sys

from harness.ports import LEASE_RANGE, lease_port


def test_a_leased_port_is_below_the_ephemeral_range_and_not_leased_twice() -> None:
    leases = [lease_port() for _ in range(50)]
    try:
        ports = [lease.port for lease in leases]
        assert len(set(ports)) == len(ports) and all(port in LEASE_RANGE for port in ports)
    finally:
        for lease in leases:
            lease.release()


def test_another_process_cannot_lease_a_held_port_until_it_is_released() -> None:
    lease = lease_port()
    probe = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
             f"try:\n    s.bind('\\0faultline-port-{lease.port}')\nexcept OSError:\n    sys.exit(1)\n")
    held = subprocess.run([sys.executable, "-c", probe], timeout=30)
    lease.release()
    free = subprocess.run([sys.executable, "-c", probe], timeout=30)
    assert (held.returncode, free.returncode) == (1, 0)
