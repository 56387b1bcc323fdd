"""A target that is already running somewhere: the harness only checks that it answers."""

from __future__ import annotations

from pathlib import Path

import httpx

from harness.errors import TargetStartError
from harness.targets.base import TargetContext
from harness.targets.spec import TargetSpec
from harness.wait import wait_until


class UrlTarget:
    def __init__(self, spec: TargetSpec) -> None:
        assert spec.base_url is not None
        self.spec = spec

    def start(self, context: TargetContext) -> RunningUrl:
        running = RunningUrl(self.spec)
        url = running.base_url + self.spec.readiness.path
        seen: list[str] = []

        def answers() -> bool:
            try:
                status = httpx.get(url, timeout=1.0).status_code
            except httpx.TransportError as exc:
                seen.append(type(exc).__name__)
                return False
            seen.append(f"status {status}")
            return status == self.spec.readiness.status

        try:
            wait_until(answers, timeout=self.spec.readiness.timeout, what=f"{url} to answer",
                       interval=0.05)
        except Exception:
            raise TargetStartError(self.spec.name, f"{url} is not answering "
                                                   f"({seen[-1] if seen else 'no attempt'})") from None
        return running


class RunningUrl:
    pid = None
    temp_dir: Path | None = None
    run_marker = None
    log_visible = False  # log steps skip rather than pass on an empty log

    def __init__(self, spec: TargetSpec) -> None:
        assert spec.base_url is not None
        self.name = spec.name
        self.base_url = spec.base_url

    def is_running(self) -> bool:
        return True

    def log_tail(self, lines: int = 40) -> str:
        return "(an already running url target: its log is not visible to the harness)"

    def log_text(self) -> str:
        return ""

    def stop(self) -> None:
        """Not ours to stop."""
