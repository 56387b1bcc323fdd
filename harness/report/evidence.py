"""Evidence a failed scenario shows: named text providers, registered by whatever fixture owns
the thing (the target's log, the history, the fakes' request logs, toxics, the GPU plan) and
read once, when the scenario's report is made."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from harness.history import History

MAX_CHARS = 20_000   # per item: enough for a log tail, small enough to ship through xdist


class Evidence:
    def __init__(self) -> None:
        self._providers: dict[str, Callable[[], str]] = {}

    def register(self, name: str, provider: Callable[[], str]) -> None:
        self._providers[name] = provider

    def collect(self) -> dict[str, str]:
        """Each provider's text, tail-truncated; a provider that fails says why instead, so one
        broken source never hides the others."""
        texts = {}
        for name, provider in self._providers.items():
            try:
                text = provider()
            except Exception as exc:  # noqa: BLE001 - evidence is best effort by design
                text = f"(could not collect: {type(exc).__name__}: {exc})"
            if len(text) > MAX_CHARS:
                text = f"(first {len(text) - MAX_CHARS} characters cut)\n" + text[-MAX_CHARS:]
            if text.strip():
                texts[name] = text
        return texts


# Set on the scenario's item by the `evidence` and `history` fixtures, read when its report is made.
EVIDENCE_KEY = pytest.StashKey[Evidence]()
HISTORY_KEY = pytest.StashKey[History]()


def history_text(history: History) -> str:
    """One line per event, seconds since the scenario began; the full log is the .jsonl file."""
    lines = [f"+{e.t - history.created:9.3f}s  {e.kind:<16} {e.source:<28} "
             + json.dumps(dict(e.data), default=str, sort_keys=True) for e in history.events()]
    return "\n".join(lines + ([f"(full history: {history.path})"] if history.path else []))
