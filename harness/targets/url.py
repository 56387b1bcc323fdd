"""A target that is already running somewhere: the harness checks that it answers and, where the
target file declares a reset request, puts it back to its start state before each scenario
(`reset_to_start_state`, called before the scenario builds the fakes and proxies the service could
reach, so nothing left over from an earlier scenario reaches them)."""

from __future__ import annotations

from pathlib import Path

import httpx

from harness.errors import TargetStartError
from harness.targets.base import TargetContext
from harness.targets.logs import log_size, log_tail, log_text
from harness.targets.spec import ResetHook, TargetSpec
from harness.wait import wait_until

RESET_TIMEOUT = 10.0


class UrlTarget:
    def __init__(self, spec: TargetSpec) -> None:
        assert spec.url is not None
        self.spec, self.section = spec, spec.url

    def start(self, context: TargetContext) -> RunningUrl:
        running = RunningUrl(self.spec)
        self.wait_until_answering()
        return running

    def reset_to_start_state(self) -> str:
        """Send the target file's reset request, once the service answers; says what it answered."""
        assert self.section.reset is not None
        self.wait_until_answering()
        return self._reset(self.section.reset)

    def wait_until_answering(self) -> None:
        url = self.section.base_url + self.spec.readiness.path
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

    def _reset(self, hook: ResetHook) -> str:
        """Send the reset request; anything but a 2xx answer stops the scenario before it starts."""
        token = self.section.token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            answer = httpx.request(hook.method, self.section.base_url + hook.path, headers=headers,
                                   timeout=RESET_TIMEOUT)
        except httpx.HTTPError as exc:
            raise TargetStartError(self.spec.name, f"the reset request [url] reset = \"{hook}\" failed: "
                                                   f"{type(exc).__name__} {exc}".rstrip()) from None
        said = f"{answer.status_code} {answer.text[:300]!r}"
        if not answer.is_success:
            raise TargetStartError(self.spec.name, f"the reset request [url] reset = \"{hook}\" answered {said}; "
                                                   f"it must answer 2xx once the service is back to its start state")
        return f"{hook} answered {said}"


class RunningUrl:
    pid = None
    temp_dir: Path | None = None
    run_marker = None

    def __init__(self, spec: TargetSpec) -> None:
        assert spec.url is not None
        self.name = spec.name
        self.base_url = spec.url.base_url
        self.log_file = spec.url.log_file
        # Without a log file, log steps skip rather than pass on an empty log.
        self.log_visible = self.log_file is not None
        self._log_from = log_size(self.log_file) if self.log_file else 0  # this scenario's lines only

    def is_running(self) -> bool:
        return True

    def log_tail(self, lines: int = 40) -> str:
        if self.log_file is None:
            return "(an already running url target without [url] log_file: its log is not visible to the harness)"
        return log_tail(self.log_file, lines, since=self._log_from)

    def log_text(self) -> str:
        return log_text(self.log_file, since=self._log_from) if self.log_file else ""

    def stop(self) -> None:
        """Not ours to stop."""
