"""The gateway profile against the reference gateway as a `url` target: a service that is already
running, which the harness neither starts nor configures.

The contract (docs/verify.md): the service was started with a config whose providers point at
fixed loopback addresses, and its target file declares them in [url] providers together with the
token; during each scenario the harness's proxy for each provider listens at its declared address.
Scenarios that need other providers or limits skip with that reason. One instance serves every
scenario, so state carries over (breakers stay open for their cooldown, metrics add up): the run
is sequential (--workers 0, the addresses are fixed) and limited to the clause families whose
scenarios leave no state behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalogue import catalogue
from harness.plugin import DEFAULT_TARGETS, PROJECT_ROOT
from harness.ports import free_port
from harness.rigs.gateway import GatewayLimits
from harness.targets import RunningTarget, TargetContext, load_target_file, make_target

STATELESS_FAMILIES = ("GW-AUTH", "GW-INPUT", "GW-ENV", "GW-HEALTH", "GW-STREAM", "GW-PARTIAL")
TOKEN = "fl-url-target-token"
API_KEY = "pk-primary-fixed"


@pytest.fixture
def primary_address() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def running_gateway(primary_address: str) -> Iterator[RunningTarget]:
    """The reference gateway, started the way an operator would: config rendered once, for good."""
    limits = GatewayLimits()
    values = {"providers": [{"name": "primary", "kind": "openai", "url": f"http://{primary_address}",
                             "api_key": API_KEY, "model": "openai-test-model", "streaming": True}],
              "limits": {"max_concurrent": limits.max_concurrent, "max_queue": limits.max_queue,
                         "max_body_bytes": limits.max_body_bytes}}
    running = make_target(load_target_file(DEFAULT_TARGETS["gateway"])).start(TargetContext(0.1, TOKEN, values))
    try:
        yield running
    finally:
        running.stop()


def stateless_clauses() -> str:
    ids = sorted(c for c in catalogue().clauses if c.rsplit("-", 1)[0] in STATELESS_FAMILIES)
    return " or ".join(ids)


def test_the_gateway_profile_passes_against_the_reference_gateway_as_a_url_target(
        running_gateway: RunningTarget, primary_address: str, tmp_path: Path) -> None:
    reference = load_target_file(DEFAULT_TARGETS["gateway"])
    target = tmp_path / "running-gateway.toml"
    target.write_text(f'''
name = "running-gateway"
profile = "gateway"
kind = "url"
time_scale = {reference.time_scale}
features = {json.dumps(sorted(reference.features))}
[url]
base_url = "{running_gateway.base_url}"
token = "{TOKEN}"
providers = [{{name = "primary", kind = "openai", listen = "{primary_address}", api_key = "{API_KEY}"}}]
''', encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--target", str(target), "--profile", "gateway",
                           "--workers", "0", "--reports-dir", str(tmp_path / "reports"), "--",
                           "-m", stateless_clauses(), "-rs"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    verdict = json.loads((tmp_path / "reports" / "verdict-running-gateway.json").read_text())
    assert verdict["verdict"] == "pass" and verdict["kind"] == "url", verdict["summary"]
    assert " passed" in done.stdout
    assert "this scenario needs primary (anthropic)" in done.stdout  # what it cannot run, it says why
