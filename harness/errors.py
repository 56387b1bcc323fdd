"""Errors the harness raises, all under one root so callers can catch the family.

    HarnessError
     +-- TargetFileError        a target file is missing, malformed or inconsistent
     +-- CatalogueError         the clause catalogue or error vocabulary is inconsistent
     +-- TargetError            a system under test misbehaved while being started or stopped
     |    +-- TargetStartError      it exited or never became ready (carries its log tail)
     |    +-- TargetStopError       it, or a process of its tree, survived SIGKILL
     +-- WaitTimeout            a bounded wait ended before its condition held
"""

from __future__ import annotations


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""


class TargetFileError(HarnessError):
    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path, self.key, self.problem = path, key, problem
        super().__init__(f"{path}: [{key}] {problem}")


class CatalogueError(HarnessError):
    pass


class TargetError(HarnessError):
    def __init__(self, target: str, problem: str, log_tail: str = "", exit_code: int | None = None) -> None:
        self.target, self.problem, self.log_tail, self.exit_code = target, problem, log_tail, exit_code
        text = f"target {target!r}: {problem}"
        if log_tail:
            text += "\n--- last lines of its log ---\n" + log_tail
        super().__init__(text)


class TargetStartError(TargetError):
    pass


class TargetStopError(TargetError):
    pass


class WaitTimeout(HarnessError):
    def __init__(self, what: str, timeout: float, last_observation: str = "") -> None:
        self.what, self.timeout, self.last_observation = what, timeout, last_observation
        text = f"gave up after {timeout:.2f}s waiting for {what}"
        if last_observation:
            text += f" (last seen: {last_observation})"
        super().__init__(text)
