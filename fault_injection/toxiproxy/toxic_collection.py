"""A proxy's toxics: two ordered chains (upstream, downstream) and the live links they drive.

Parsing follows upstream's `AddToxicJson` order: body, stream, default name, type, name
conflict across both streams, attributes. Updates merge into the current attributes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from fault_injection.toxiproxy import errors
from fault_injection.toxiproxy.toxics import REGISTRY, AttributeError400, Toxic, attributes_of, build

if TYPE_CHECKING:
    from fault_injection.toxiproxy.link import Link

STREAMS = ("upstream", "downstream")
# Latency needs a deep queue so chunks are stamped on arrival, not when the toxic gets to them.
BUFFER_SIZES = {"latency": 1024}
DEFAULT_BUFFER = 8


@dataclass(frozen=True)
class ToxicEntry:
    name: str
    type: str
    stream: str       # as the client spelled it; `direction` is the parsed form
    direction: str
    toxicity: float
    toxic: Toxic

    @property
    def buffer_size(self) -> int:
        return BUFFER_SIZES.get(self.type, DEFAULT_BUFFER)

    def to_json(self) -> dict[str, Any]:
        return {"attributes": attributes_of(self.toxic), "name": self.name, "type": self.type,
                "stream": self.stream, "toxicity": self.toxicity}


ToxicListener = Callable[[str, ToxicEntry], None]  # ("added" | "updated" | "removed", entry)


class ToxicCollection:
    def __init__(self, listener: ToxicListener | None = None) -> None:
        self.chains: dict[str, list[ToxicEntry]] = {s: [] for s in STREAMS}
        self.links: dict[str, set[Link]] = {s: set() for s in STREAMS}
        self._lock = asyncio.Lock()
        self._listener = listener

    def all(self) -> list[ToxicEntry]:
        return self.chains["upstream"] + self.chains["downstream"]

    def find(self, name: str) -> ToxicEntry | None:
        return next((e for e in self.all() if e.name == name), None)

    def get(self, name: str) -> ToxicEntry:
        entry = self.find(name)
        if entry is None:
            raise errors.TOXIC_NOT_FOUND
        return entry

    async def add_json(self, body: object) -> ToxicEntry:
        async with self._lock:
            entry = self._parse_new(body)
            self.chains[entry.direction].append(entry)
            await self._each_link(entry.direction, lambda link: link.add(entry))
            self._notify("added", entry)
            return entry

    async def update_json(self, name: str, body: object) -> ToxicEntry:
        async with self._lock:
            current = self.get(name)
            fields = _object(body)
            attributes = fields.get("attributes")
            if attributes is not None and not isinstance(attributes, Mapping):
                raise errors.BAD_REQUEST_BODY.joined("json: cannot unmarshal attributes: not an object")
            merged = {**attributes_of(current.toxic), **(attributes or {})}
            toxicity = _toxicity(fields.get("toxicity"), current.toxicity)
            entry = replace(current, toxicity=toxicity, toxic=_build(current.type, merged))
            chain = self.chains[entry.direction]
            chain[chain.index(current)] = entry
            await self._each_link(entry.direction, lambda link: link.update(entry))
            self._notify("updated", entry)
            return entry

    async def remove(self, name: str) -> None:
        async with self._lock:
            await self._remove(self.get(name))

    async def reset(self) -> None:
        async with self._lock:
            for stream in STREAMS:
                while self.chains[stream]:
                    await self._remove(self.chains[stream][0])

    async def _remove(self, entry: ToxicEntry) -> None:
        self.chains[entry.direction].remove(entry)
        await self._each_link(entry.direction, lambda link: link.remove(entry))
        self._notify("removed", entry)

    async def _each_link(self, direction: str, action: Callable[[Link], Any]) -> None:
        links = list(self.links[direction])
        if links:
            await asyncio.gather(*(action(link) for link in links))

    def _notify(self, change: str, entry: ToxicEntry) -> None:
        if self._listener is not None:
            self._listener(change, entry)

    def _parse_new(self, body: object) -> ToxicEntry:
        fields = _object(body)
        for key in ("name", "type", "stream"):
            if fields.get(key) is not None and not isinstance(fields[key], str):
                raise errors.BAD_REQUEST_BODY.joined(
                    f"json: cannot unmarshal {type(fields[key]).__name__} into Go struct field "
                    f"ToxicWrapper.{key} of type string")
        attributes = fields.get("attributes")
        if attributes is not None and not isinstance(attributes, Mapping):
            raise errors.BAD_REQUEST_BODY.joined(
                "json: cannot unmarshal into Go struct field ToxicWrapper.attributes")
        toxicity = _toxicity(fields.get("toxicity"), 1.0)
        stream = fields.get("stream") or "downstream"
        direction = stream.lower()
        if direction not in STREAMS:
            raise errors.INVALID_STREAM
        toxic_type = fields.get("type") or ""
        name = fields.get("name") or f"{toxic_type}_{stream}"
        if toxic_type not in REGISTRY:
            raise errors.INVALID_TOXIC_TYPE
        if self.find(name) is not None:
            raise errors.TOXIC_ALREADY_EXISTS
        return ToxicEntry(name, toxic_type, stream, direction, toxicity,
                          _build(toxic_type, attributes or {}))


def _object(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise errors.BAD_REQUEST_BODY.joined(
            f"json: cannot unmarshal {_kind(body)} into Go value of type toxics.ToxicWrapper")
    return body


def _toxicity(value: object, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise errors.BAD_REQUEST_BODY.joined(f"json: cannot unmarshal {_kind(value)} into Go struct "
                                             "field ToxicWrapper.toxicity of type float32")
    return float(value)


def _build(toxic_type: str, attributes: Mapping[str, Any]) -> Toxic:
    try:
        return build(REGISTRY[toxic_type], attributes)
    except AttributeError400 as exc:
        raise errors.BAD_REQUEST_BODY.joined(str(exc)) from None


def _kind(value: object) -> str:
    return {str: "string", list: "array", dict: "object", bool: "bool"}.get(type(value), "number")
