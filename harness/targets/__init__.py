"""Targets: how to start (or reach) a system under test, described by a TOML target file."""

from __future__ import annotations

from harness.targets.base import RunningTarget, Target, TargetContext
from harness.targets.spec import TargetSpec, load_target_file

__all__ = ["RunningTarget", "Target", "TargetContext", "TargetSpec", "load_target_file", "make_target"]


def make_target(spec: TargetSpec) -> Target:
    from harness.targets.docker import DockerTarget
    from harness.targets.process import ProcessTarget
    from harness.targets.url import UrlTarget

    kinds: dict[str, type[ProcessTarget] | type[DockerTarget] | type[UrlTarget]] = {
        "process": ProcessTarget, "docker": DockerTarget, "url": UrlTarget}
    return kinds[spec.kind](spec)
