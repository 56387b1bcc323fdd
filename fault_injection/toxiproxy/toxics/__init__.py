"""The toxic registry: one small unit per toxic type, keyed by its API type name."""

from __future__ import annotations

from fault_injection.toxiproxy.toxics.bandwidth import Bandwidth
from fault_injection.toxiproxy.toxics.base import AttributeError400, Toxic, attributes_of, build
from fault_injection.toxiproxy.toxics.latency import Latency
from fault_injection.toxiproxy.toxics.limit_data import LimitData
from fault_injection.toxiproxy.toxics.noop import Noop
from fault_injection.toxiproxy.toxics.reset_peer import ResetPeer
from fault_injection.toxiproxy.toxics.slicer import Slicer
from fault_injection.toxiproxy.toxics.slow_close import SlowClose
from fault_injection.toxiproxy.toxics.timeout import Timeout

REGISTRY: dict[str, type] = {cls.type_name: cls for cls in (
    Noop, Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData)}

__all__ = ["REGISTRY", "AttributeError400", "Toxic", "attributes_of", "build",
           "Bandwidth", "Latency", "LimitData", "Noop", "ResetPeer", "Slicer", "SlowClose", "Timeout"]
