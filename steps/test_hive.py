"""Hive profile scenarios (features/hive) and their hive-only phrases."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_bdd import parsers, scenarios, then, when

from fault_injection.plugin import ScenarioNetwork
from harness.chat import bearer
from harness.exchange import Exchange, send
from harness.history import History
from harness.portal import BackgroundLoop
from harness.probes import temp_dir_contents
from harness.rigs.hive import HiveRig, model_ref
from harness.spec_values import BREAKER, TIMEOUTS
from harness.streaming import InFlight
from harness.targets import RunningTarget
from harness.wait import wait_until

scenarios("hive")


@pytest.fixture
def hive_rig(background_loop: BackgroundLoop, history: History, network: ScenarioNetwork) -> Iterator[HiveRig]:
    rig = HiveRig(background_loop, history, network)
    try:
        yield rig
    finally:
        rig.close()


@pytest.fixture
def sut_values(hive_rig: HiveRig) -> dict[str, Any]:
    """Read when the hive starts, i.e. after every Given has shaped the rig."""
    return hive_rig.values()


@pytest.fixture
def in_flight() -> Iterator[list[InFlight]]:
    flights: list[InFlight] = []
    yield flights


def _download(sut: RunningTarget, token: str, repo: str, cid: str | None = None) -> Exchange:
    return send("POST", sut.base_url + "/v1/models/download", json_body={"model_ref": model_ref(repo)},
                headers=bearer(token, cid))


@when(parsers.parse('a client downloads model "{repo}"'), target_fixture="exchange")
def when_download(sut: RunningTarget, api_token: str, repo: str) -> Exchange:
    return _download(sut, api_token, repo)


@when(parsers.parse('a client downloads model "{repo}" with correlation id "{cid}"'), target_fixture="exchange")
def when_download_with_id(sut: RunningTarget, api_token: str, repo: str, cid: str) -> Exchange:
    return _download(sut, api_token, repo, cid)


@when(parsers.parse('a client downloads model "{repo}" {count:d} times one after another'),
      target_fixture="exchanges")
def when_download_many(sut: RunningTarget, api_token: str, repo: str, count: int) -> list[Exchange]:
    return [_download(sut, api_token, repo) for _ in range(count)]


@when("the hub breaker cooldown has elapsed")
def when_hub_cooldown(hive_rig: HiveRig, time_scale: float, timing_tolerance: float) -> None:
    requests = hive_rig.hub.requests
    assert requests, "the hub never received a request, so its breaker cannot have opened"
    opened = requests[-1].t
    cooldown = BREAKER.cooldown * time_scale + timing_tolerance
    wait_until(lambda: time.monotonic() >= opened + cooldown, timeout=cooldown + 1.0,
               what=f"the hub breaker cooldown ({BREAKER.cooldown:g} spec s)")


@when("a client starts a download that stays in flight at the hub")
def when_download_in_flight(sut: RunningTarget, api_token: str, hive_rig: HiveRig, in_flight: list[InFlight],
                            time_scale: float) -> None:
    seen = len(hive_rig.hub.requests)
    thread = threading.Thread(target=_download, args=(sut, api_token, "acme/tiny-chat"), daemon=True)
    thread.start()
    in_flight.append(InFlight(thread))
    hive_rig.hub.wait_for_requests(seen + 1, timeout=5.0 + TIMEOUTS.request * time_scale)


@then("the hive's temp dir is empty")
def then_temp_dir_empty(sut: RunningTarget) -> None:
    if sut.temp_dir is None:
        pytest.skip(f"{sut.name} does not share its temp dir with the harness")
    left = temp_dir_contents(sut.temp_dir)
    assert not left, f"left in the hive's temp dir: {left}"


@when(parsers.re(r"a client calls (?P<method>GET|POST) (?P<path>/\S+) without a token$"), target_fixture="exchange")
def when_call_without_token(sut: RunningTarget, method: str, path: str) -> Exchange:
    return send(method, sut.base_url + path, json_body={} if method == "POST" else None)


@when(parsers.re(r"a client calls (?P<method>GET|POST) (?P<path>/\S+) with the token$"), target_fixture="exchange")
def when_call_with_token(sut: RunningTarget, api_token: str, method: str, path: str) -> Exchange:
    return send(method, sut.base_url + path, headers=bearer(api_token),
                json_body={} if method == "POST" else None)


@when(parsers.parse('a client downloads model "{repo}" with the token "{token}"'), target_fixture="exchange")
def when_download_with_token(sut: RunningTarget, repo: str, token: str) -> Exchange:
    return _download(sut, token, repo)


@when(parsers.re(r'a client posts the raw body "(?P<body>.*)" to (?P<path>/\S+)$'), target_fixture="exchange")
def when_post_raw(sut: RunningTarget, api_token: str, body: str, path: str) -> Exchange:
    return send("POST", sut.base_url + path, content=json.loads(f'"{body}"').encode(),
                headers={**bearer(api_token), "content-type": "application/json"})


@when(parsers.re(r"a client posts (?P<body>\{.*\}) to (?P<path>/\S+)$"), target_fixture="exchange")
def when_post_json(sut: RunningTarget, api_token: str, body: str, path: str) -> Exchange:
    return send("POST", sut.base_url + path, json_body=json.loads(body), headers=bearer(api_token))


@when(parsers.parse("a client posts a body of {megabytes:d} megabytes to {path}"), target_fixture="exchange")
def when_post_oversize(sut: RunningTarget, api_token: str, megabytes: int, path: str) -> Exchange:
    body = {"model_ref": "hf:acme/tiny-chat", "backend": "cuda", "device": 0, "pad": "x" * megabytes * 2**20}
    return send("POST", sut.base_url + path, json_body=body, headers=bearer(api_token))


@then("the hive is still healthy")
def then_hive_healthy(sut: RunningTarget) -> None:
    assert sut.is_running(), sut.log_tail()
    assert send("GET", sut.base_url + "/v1/health").status == 200
