"""Running an implementation's own CLI, as its target file says, and recording what it did."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.targets.render import render
from harness.targets.spec import TargetSpec


@dataclass(frozen=True)
class CliRun:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    elapsed: float

    def describe(self) -> str:
        return (f"exit {self.exit_code} after {self.elapsed:.2f}s\nstdout: {self.stdout[-800:]}\n"
                f"stderr: {self.stderr[-800:]}")


def cli_argv(spec: TargetSpec, operation: str, values: Mapping[str, Any]) -> list[str]:
    assert spec.cli is not None
    if operation not in spec.cli.operations:
        raise LookupError(f"{spec.path}: [cli] has no {operation!r} template")
    values = {"python": sys.executable, **values}
    prefix = [render(a, values, path=spec.path, key=f"cli.command[{i}]") for i, a in enumerate(spec.cli.command)]
    return prefix + [render(a, values, path=spec.path, key=f"cli.{operation}[{i}]")
                     for i, a in enumerate(spec.cli.operations[operation])]


def run_cli(argv: list[str], timeout: float) -> CliRun:
    started = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:
        raise AssertionError(f"the CLI did not finish within {timeout:g}s: {' '.join(argv)}\n"
                             f"{(expired.stderr or b'')[-800:]!r}") from None
    return CliRun(tuple(argv), done.returncode, done.stdout, done.stderr, time.monotonic() - started)
