"""A minimal Server-Sent Events reader (WHATWG rules: `event:`/`data:` fields, `:` comments,
a blank line ends an event) for checking what the fakes, or anything else, put on the wire."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SseEvent:
    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def iter_sse(lines: Iterable[str]) -> Iterator[SseEvent]:
    """Events from decoded lines (without their line endings), as they arrive."""
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield SseEvent(event, "\n".join(data))
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    # An event not ended by a blank line when the stream stops is discarded, as the spec says.


def parse_sse(raw: bytes | str) -> list[SseEvent]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return list(iter_sse(text.replace("\r\n", "\n").split("\n")))
