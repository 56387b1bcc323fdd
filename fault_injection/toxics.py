"""Typed toxics for the harness: one frozen dataclass per Toxiproxy toxic type.

`to_api()` gives the body of `POST /proxies/{proxy}/toxics`; names default to upstream's
`<type>_<stream>`, so removing a toxic by `toxic.name` works without tracking what the
server answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

Stream = Literal["upstream", "downstream"]


@dataclass(frozen=True, kw_only=True)
class ToxicSpec:
    type: ClassVar[str]
    stream: Stream = "downstream"
    toxicity: float = 1.0
    label: str | None = None  # the toxic's name; None means `<type>_<stream>`

    @property
    def name(self) -> str:
        return self.label or f"{self.type}_{self.stream}"

    def attributes(self) -> dict[str, int]:
        return {}

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "stream": self.stream,
                "toxicity": self.toxicity, "attributes": self.attributes()}


@dataclass(frozen=True, kw_only=True)
class Noop(ToxicSpec):
    type: ClassVar[str] = "noop"


@dataclass(frozen=True)
class Latency(ToxicSpec):
    """Delay every chunk by `latency_ms` ± `jitter_ms`."""
    type: ClassVar[str] = "latency"
    latency_ms: int
    jitter_ms: int = 0

    def attributes(self) -> dict[str, int]:
        return {"latency": self.latency_ms, "jitter": self.jitter_ms}


@dataclass(frozen=True)
class Bandwidth(ToxicSpec):
    """Limit the stream to `rate_kb_s` kilobytes (1000 bytes) per second; 0 stalls it."""
    type: ClassVar[str] = "bandwidth"
    rate_kb_s: int

    def attributes(self) -> dict[str, int]:
        return {"rate": self.rate_kb_s}


@dataclass(frozen=True)
class SlowClose(ToxicSpec):
    """Delay the close of the stream by `delay_ms`."""
    type: ClassVar[str] = "slow_close"
    delay_ms: int

    def attributes(self) -> dict[str, int]:
        return {"delay": self.delay_ms}


@dataclass(frozen=True)
class Timeout(ToxicSpec):
    """Drop all data; close after `timeout_ms` with no data (0: never close; removal closes)."""
    type: ClassVar[str] = "timeout"
    timeout_ms: int

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.timeout_ms}


@dataclass(frozen=True)
class ResetPeer(ToxicSpec):
    """On the first data, wait `timeout_ms`, then reset the connection (RST if present at accept)."""
    type: ClassVar[str] = "reset_peer"
    timeout_ms: int = 0

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.timeout_ms}


@dataclass(frozen=True)
class Slicer(ToxicSpec):
    """Split chunks into `average_size` ± `size_variation` bytes, `delay_us` microseconds apart."""
    type: ClassVar[str] = "slicer"
    average_size: int
    size_variation: int = 0
    delay_us: int = 0

    def attributes(self) -> dict[str, int]:
        return {"average_size": self.average_size, "size_variation": self.size_variation,
                "delay": self.delay_us}


@dataclass(frozen=True)
class LimitData(ToxicSpec):
    """Close the connection once `bytes` bytes have passed in this direction."""
    type: ClassVar[str] = "limit_data"
    bytes: int

    def attributes(self) -> dict[str, int]:
        return {"bytes": self.bytes}
