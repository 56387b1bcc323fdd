"""All proxies by name, and `/populate`: validate every entry, then add-or-replace in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fault_injection.toxiproxy import errors
from fault_injection.toxiproxy.errors import ApiError
from fault_injection.toxiproxy.proxy import Proxy


@dataclass(frozen=True)
class ProxySpec:
    name: str
    listen: str
    upstream: str
    enabled: bool


class PopulateError(Exception):
    def __init__(self, error: ApiError, created: list[Proxy]) -> None:
        super().__init__(error.message)
        self.error = error
        self.created = created


class ProxyRegistry:
    def __init__(self, make_proxy: Callable[[ProxySpec], Proxy]) -> None:
        self._proxies: dict[str, Proxy] = {}
        self._make = make_proxy
        self.lock = asyncio.Lock()

    def all(self) -> dict[str, Proxy]:
        return dict(self._proxies)

    def get(self, name: str) -> Proxy:
        proxy = self._proxies.get(name)
        if proxy is None:
            raise errors.PROXY_NOT_FOUND
        return proxy

    async def add(self, spec: ProxySpec) -> Proxy:
        async with self.lock:
            if spec.name in self._proxies:
                raise errors.PROXY_ALREADY_EXISTS
            proxy = self._make(spec)
            if spec.enabled:
                await proxy.start()
            self._proxies[spec.name] = proxy
            return proxy

    async def add_or_replace(self, spec: ProxySpec) -> Proxy:
        async with self.lock:
            existing = self._proxies.get(spec.name)
            if existing is not None:
                if not await existing.differs(spec.listen, spec.upstream):
                    return existing
                await existing.stop()
            proxy = self._make(spec)
            if spec.enabled:
                await proxy.start()
            self._proxies[spec.name] = proxy
            return proxy

    async def populate(self, body: object) -> list[Proxy]:
        if not isinstance(body, list):
            raise PopulateError(errors.BAD_REQUEST_BODY.joined(
                "json: cannot unmarshal object into Go value of type []struct"), [])
        specs: list[ProxySpec] = []
        try:
            for index, item in enumerate(body, start=1):
                specs.append(parse_spec(item, default_enabled=True, position=index))
        except ApiError as exc:
            raise PopulateError(exc, []) from None
        created: list[Proxy] = []
        for spec in specs:
            try:
                created.append(await self.add_or_replace(spec))
            except ApiError as exc:
                raise PopulateError(exc, created) from None
        return created

    async def remove(self, name: str) -> Proxy:
        async with self.lock:
            proxy = self.get(name)
            await proxy.stop()
            del self._proxies[name]
            return proxy

    async def clear(self) -> None:
        async with self.lock:
            for proxy in list(self._proxies.values()):
                await proxy.stop()
            self._proxies.clear()


def parse_spec(item: object, default_enabled: bool, position: int | None = None,
               current: ProxySpec | None = None) -> ProxySpec:
    """A proxy body as Go decodes it: missing or null fields keep their defaults."""
    if not isinstance(item, Mapping):
        raise errors.BAD_REQUEST_BODY.joined(
            f"json: cannot unmarshal {_kind(item)} into Go value of type toxiproxy.Proxy")
    values: dict[str, Any] = {"name": "", "listen": "", "upstream": "", "enabled": default_enabled}
    if current is not None:
        values.update(name=current.name, listen=current.listen, upstream=current.upstream,
                      enabled=current.enabled)
    for key, kind in (("name", str), ("listen", str), ("upstream", str), ("enabled", bool)):
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, kind):
            raise errors.BAD_REQUEST_BODY.joined(
                f"json: cannot unmarshal {_kind(value)} into Go struct field Proxy.{key} "
                f"of type {'bool' if kind is bool else 'string'}")
        values[key] = value
    if current is None:
        at = f" at proxy {position}" if position is not None else ""
        if not values["name"]:
            raise errors.MISSING_FIELD.joined(f"name{at}")
        if not values["upstream"]:
            raise errors.MISSING_FIELD.joined(f"upstream{at}")
    return ProxySpec(**values)


def _kind(value: object) -> str:
    return {str: "string", list: "array", dict: "object", bool: "bool"}.get(type(value), "number")
