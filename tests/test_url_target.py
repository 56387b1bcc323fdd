"""The gateway profile against the reference gateway as a `url` target: a service that is already
running, which the harness neither starts nor configures.

The contract (docs/verify.md): the service was started with a config whose providers point at
fixed loopback addresses, and its target file declares them in [url] providers together with the
token; during each scenario the harness's proxy for each provider listens at its declared address.
Scenarios that need other providers or limits skip with that reason. One instance serves every
scenario, so state carries over: with a [url] reset request the harness puts it back to its start
state before each scenario and the whole profile runs; without one, the @fresh-instance scenarios
(those that leave a failure on a breaker's count or read metric values) skip with that reason.
The run is sequential (--workers 0): the provider addresses are fixed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.plugin import DEFAULT_TARGETS, PROJECT_ROOT
from harness.ports import free_port
from harness.rigs.gateway import GatewayLimits
from harness.targets import RunningTarget, TargetContext, load_target_file, make_target

TOKEN = "fl-url-target-token"
API_KEY = "pk-primary-fixed"
RESET = "POST /admin/reset"


def start_reference_gateway(primary_address: str, admin_reset: bool) -> RunningTarget:
    """The reference gateway, started the way an operator would: config rendered once, for good."""
    limits = GatewayLimits()
    values = {"providers": [{"name": "primary", "kind": "openai", "url": f"http://{primary_address}",
                             "api_key": API_KEY, "model": "openai-test-model", "streaming": True}],
              "limits": {"max_concurrent": limits.max_concurrent, "max_queue": limits.max_queue,
                         "max_body_bytes": limits.max_body_bytes},
              "admin_reset": admin_reset}
    reference = load_target_file(DEFAULT_TARGETS["gateway"])
    return make_target(reference).start(TargetContext(reference.time_scale, TOKEN, values))


@pytest.fixture
def primary_address() -> str:
    return f"127.0.0.1:{free_port()}"


def running_gateway(primary_address: str, admin_reset: bool) -> Iterator[RunningTarget]:
    running = start_reference_gateway(primary_address, admin_reset)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def resettable_gateway(primary_address: str) -> Iterator[RunningTarget]:
    yield from running_gateway(primary_address, admin_reset=True)


@pytest.fixture
def plain_gateway(primary_address: str) -> Iterator[RunningTarget]:
    """Configured without the reset route: the reference offers it only when asked to."""
    yield from running_gateway(primary_address, admin_reset=False)


def url_target_file(tmp_path: Path, running: RunningTarget, primary_address: str, reset: str | None) -> Path:
    reference = load_target_file(DEFAULT_TARGETS["gateway"])
    target = tmp_path / "running-gateway.toml"
    target.write_text(f'''
name = "running-gateway"
profile = "gateway"
kind = "url"
time_scale = {reference.time_scale}
features = {json.dumps(sorted(reference.features))}
[url]
base_url = "{running.base_url}"
token = "{TOKEN}"
{f'reset = "{reset}"' if reset else ""}
providers = [{{name = "primary", kind = "openai", listen = "{primary_address}", api_key = "{API_KEY}"}}]
''', encoding="utf-8")
    return target


def run_gateway_profile(target: Path, reports: Path, *selection: str) -> tuple[subprocess.CompletedProcess[str],
                                                                               dict[str, Any]]:
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--target", str(target), "--profile", "gateway",
                           "--workers", "0", "--reports-dir", str(reports), "--", "-rs", *selection],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    verdict_file = reports / "verdict-running-gateway.json"
    verdict = json.loads(verdict_file.read_text()) if verdict_file.exists() else {}
    return done, verdict


def results(verdict: dict[str, Any], *clause_ids: str) -> set[str]:
    return {verdict["clauses"][c]["result"] for c in clause_ids}


STATEFUL = ("GW-BREAKER-001", "GW-BREAKER-008", "GW-RETRY-004", "GW-OBS-003", "GW-TIMEOUT-001")


def test_with_a_reset_request_the_whole_gateway_profile_passes_against_a_running_gateway(
        resettable_gateway: RunningTarget, primary_address: str, tmp_path: Path) -> None:
    target = url_target_file(tmp_path, resettable_gateway, primary_address, RESET)
    done, verdict = run_gateway_profile(target, tmp_path / "reports")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert verdict["verdict"] == "pass" and verdict["kind"] == "url", verdict["summary"]
    assert results(verdict, *STATEFUL) == {"passed"}, {c: verdict["clauses"][c]["result"] for c in STATEFUL}
    assert "@fresh-instance" not in done.stdout
    assert "this scenario needs primary (anthropic)" in done.stdout  # what it cannot run, it says why


def test_without_a_reset_request_the_scenarios_that_need_a_fresh_instance_skip_with_the_reason(
        plain_gateway: RunningTarget, primary_address: str, tmp_path: Path) -> None:
    target = url_target_file(tmp_path, plain_gateway, primary_address, reset=None)
    done, verdict = run_gateway_profile(target, tmp_path / "reports")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert verdict["verdict"] == "pass", verdict["summary"]
    assert results(verdict, *STATEFUL) == {"skipped"}
    assert results(verdict, "GW-AUTH-004", "GW-STREAM-001", "GW-INPUT-005") == {"passed"}
    assert "declares no [url] reset request to put it back to its start state" in done.stdout


def test_a_reset_request_the_service_refuses_stops_each_scenario_with_its_answer(
        plain_gateway: RunningTarget, primary_address: str, tmp_path: Path) -> None:
    target = url_target_file(tmp_path, plain_gateway, primary_address, RESET)  # not enabled in its config
    done, verdict = run_gateway_profile(target, tmp_path / "reports", "-m", "GW-HEALTH-001 or GW-AUTH-004")
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-2000:]
    assert f'the reset request [url] reset = "{RESET}" answered 404' in done.stdout
    assert results(verdict, "GW-HEALTH-001", "GW-AUTH-004") == {"failed"}


def test_the_reference_gateways_reset_route_needs_the_token(resettable_gateway: RunningTarget) -> None:
    url = resettable_gateway.base_url + "/admin/reset"
    assert httpx.post(url).status_code == 401
    assert httpx.post(url, headers={"Authorization": "Bearer wrong"}).status_code == 403
    answer = httpx.post(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.json() == {"in_flight": 0}
