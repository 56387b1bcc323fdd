"""What every toxic is: a frozen set of integer attributes and a `pipe` over a stub."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

if TYPE_CHECKING:
    from fault_injection.toxiproxy.stub import Stub


class AttributeError400(ValueError):
    """An attribute the API must refuse with 400 `bad request body: ...`."""


class Toxic(Protocol):
    type_name: ClassVar[str]

    async def pipe(self, stub: Stub) -> None: ...


class CleanupToxic(Protocol):
    def cleanup(self, stub: Stub) -> None: ...


T = TypeVar("T")


def build(cls: type[T], attributes: Mapping[str, Any]) -> T:
    """Make a toxic from JSON attributes, like Go's decoder: unknown keys and nulls are ignored.

    Attributes are int64 upstream, so a string or a fractional number is a 400; negative values
    are refused too, where upstream would stall, panic or behave undefinedly.
    """
    values: dict[str, int] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name not in attributes or attributes[field.name] is None:
            continue
        value = attributes[field.name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise AttributeError400(
                f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
                f"{cls.__name__}.attributes.{field.name} of type int64")
        if value < 0:
            raise AttributeError400(f"attribute {field.name} must not be negative")
        values[field.name] = value
    return cls(**values)


def attributes_of(toxic: object) -> dict[str, int]:
    return dataclasses.asdict(toxic)  # type: ignore[call-overload, no-any-return]


def _json_kind(value: object) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "bool" if isinstance(value, bool) else type(value).__name__


async def sleep_until(deadline: float) -> None:
    delay = deadline - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


async def forever() -> None:
    await asyncio.get_running_loop().create_future()
