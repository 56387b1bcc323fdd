"""Phrases about network faults injected by the proxy on the paths between the SUT and its fakes."""

from __future__ import annotations

from pytest_bdd import given, parsers

from fault_injection.plugin import ScenarioNetwork
from fault_injection.toxics import Latency, LimitData
from harness.rigs.hive import HiveRig
from harness.spec_values import TIMEOUTS
from harness.timing import ScenarioTiming


def _proxy(target: str) -> str:
    return f"provider-{target}"


@given(parsers.parse('the network path to provider "{name}" is down'))
def given_path_down(network: ScenarioNetwork, name: str) -> None:
    network.set_enabled(_proxy(name), False)


@given(parsers.parse('the network path to provider "{name}" adds latency beyond the upstream timeout'))
def given_latency_beyond(network: ScenarioNetwork, name: str, timing: ScenarioTiming) -> None:
    network.add_toxic(_proxy(name), Latency(latency_ms=int(timing.clock().real(TIMEOUTS.upstream * 1.5) * 1000)))


@given(parsers.parse('the network path to provider "{name}" adds latency of half the upstream timeout'))
def given_latency_within(network: ScenarioNetwork, name: str, timing: ScenarioTiming) -> None:
    """12.5 s: well inside the 25 s upstream timeout, and well beyond the 5 s connect timeout (a
    gateway that lets the connect timeout bound the answer too gives up)."""
    network.add_toxic(_proxy(name), Latency(latency_ms=int(timing.clock().real(TIMEOUTS.upstream / 2) * 1000)))


@given(parsers.parse('the network path to provider "{name}" cuts the connection after {count:d} bytes of the reply'))
def given_cut_after_bytes(network: ScenarioNetwork, name: str, count: int) -> None:
    network.add_toxic(_proxy(name), LimitData(bytes=count))


@given("the network path to the hub is down")
def given_hub_down(network: ScenarioNetwork, hive_rig: HiveRig) -> None:
    _ = hive_rig.hub  # the hub and its proxy exist before the path to it is cut
    network.set_enabled("hub", False)
