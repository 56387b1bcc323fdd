"""The gateway profile against the reference gateway as `url` targets: services that are already
running, which the harness neither starts nor configures.

The contract (docs/verify.md): the service was started with a config whose providers point at
fixed loopback addresses, and its target file declares them in [url] providers together with the
token; during each scenario the harness's proxy for each provider listens at its declared address.
Scenarios that need other providers or limits skip with that reason, so the whole profile runs
against four deployments side by side, one per provider chain most scenarios use; each verdict is
incomplete (a deployment skips the other chains' scenarios), and none fails a clause; their target
files name the files the services log to, so the log steps read this scenario's lines there. One instance
serves every scenario, so state carries over: with a [url] reset request the harness puts it back
to its start state before each scenario; without one, the @fresh-instance scenarios (those that
leave a failure on a breaker's count or read metric values) skip with that reason. The runs are
sequential (--workers 0): the provider addresses are fixed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalogue import catalogue
from tests.cases import only_undecidable, undecidable
from harness.plugin import DEFAULT_TARGETS, PROJECT_ROOT
from harness.ports import PortLease, lease_port
from harness.rigs.gateway import GatewayLimits
from harness.targets import RunningTarget, TargetContext, load_target_file, make_target
from tests.machine_share import quiet_machine

TOKEN = "fl-url-target-token"
RESET = "POST /admin/reset"
REFERENCE = load_target_file(DEFAULT_TARGETS["gateway"])


@dataclass(frozen=True)
class Provider:
    name: str
    kind: str
    listen: str

    @property
    def api_key(self) -> str:
        return f"pk-{self.name}-fixed"


@dataclass(frozen=True)
class Deployment:
    """A gateway as an operator runs it: one provider chain, configured once, for good."""

    name: str
    providers: tuple[Provider, ...]


@pytest.fixture
def leases() -> Iterator[list[PortLease]]:
    """The providers' fixed ports, leased for the whole test: the harness's proxy listens on each
    only during a scenario, and a port merely found free (an ephemeral one) can meanwhile become
    any process's outgoing connection's local port ("bind: address already in use")."""
    held: list[PortLease] = []
    yield held
    for lease in held:
        lease.release()


def deployment(leases: list[PortLease], name: str, *chain: tuple[str, str]) -> Deployment:
    def address() -> str:
        leases.append(lease := lease_port())
        return f"127.0.0.1:{lease.port}"
    return Deployment(name, tuple(Provider(p, kind, address()) for p, kind in chain))


def the_chains_the_scenarios_use(leases: list[PortLease]) -> list[Deployment]:
    return [deployment(leases, "openai-gateway", ("primary", "openai")),
            deployment(leases, "anthropic-gateway", ("primary", "anthropic")),
            deployment(leases, "gemini-gateway", ("primary", "gemini")),
            deployment(leases, "fallback-gateway", ("primary", "openai"), ("secondary", "openai"))]


@contextmanager
def running(gateway: Deployment, admin_reset: bool) -> Iterator[RunningTarget]:
    limits = GatewayLimits()
    values = {"providers": [{"name": p.name, "kind": p.kind, "url": f"http://{p.listen}", "api_key": p.api_key,
                             "model": f"{p.kind}-test-model", "streaming": True} for p in gateway.providers],
              "limits": {"max_concurrent": limits.max_concurrent, "max_queue": limits.max_queue,
                         "max_body_bytes": limits.max_body_bytes},
              "admin_reset": admin_reset}
    started = make_target(REFERENCE).start(TargetContext(REFERENCE.time_scale, TOKEN, values))
    try:
        yield started
    finally:
        started.stop()


def url_target_file(directory: Path, gateway: Deployment, service: RunningTarget, reset: str | None,
                    log_file: Path | None = None) -> Path:
    providers = ", ".join(f'{{name = "{p.name}", kind = "{p.kind}", listen = "{p.listen}", api_key = "{p.api_key}"}}'
                          for p in gateway.providers)
    target = directory / f"{gateway.name}.toml"
    target.write_text(f'''
name = "{gateway.name}"
profile = "gateway"
kind = "url"
time_scale = {REFERENCE.time_scale}
features = {json.dumps(sorted(REFERENCE.features))}
[url]
base_url = "{service.base_url}"
token = "{TOKEN}"
{f'reset = "{reset}"' if reset else ""}
{f'log_file = "{log_file}"' if log_file else ""}
providers = [{providers}]
''', encoding="utf-8")
    return target


def run_gateway_profile(targets: list[Path], reports: Path, *selection: str) -> tuple[
        subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", *(f"--target={t}" for t in targets),
                           "--profile", "gateway", "--workers", "0", "--reports-dir", str(reports), "--", "-rs",
                           *selection], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    verdicts = {path.stem.removeprefix("verdict-"): json.loads(path.read_text())
                for path in reports.glob("verdict-*.json")}
    return done, verdicts


def results(verdict: dict[str, Any], *clause_ids: str) -> set[str]:
    return {verdict["clauses"][c]["result"] for c in clause_ids}


STATEFUL = ("GW-BREAKER-001", "GW-BREAKER-008", "GW-RETRY-004", "GW-OBS-003", "GW-TIMEOUT-001")
# What no fixed deployment can show: limits or a streaming flag set per scenario.
NEEDS_A_STARTED_GATEWAY = {"GW-LIMIT-001", "GW-LIMIT-002", "GW-LIMIT-003", "GW-LIMIT-004", "GW-LIMIT-005",
                           "GW-HEALTH-002", "GW-FALLBACK-001", "GW-TIMEOUT-005"}
# Fallback rows across provider kinds (anthropic to gemini, gemini to openai, openai to anthropic):
# none of the four chains above runs them, so these clauses stay unverified here.
MIXED_CHAINS = {"GW-FALLBACK-003", "GW-OBS-005"}
LOG_CLAUSES = ("GW-OBS-002", "GW-AUTH-002", "GW-ENV-003", "GW-RETRY-011")


def not_skipped(verdict: dict[str, Any], *expected: str) -> list[str]:
    """The reasons an unverified MUST clause of the verdict gives other than skipped or not applicable
    scenarios, timed checks a running gateway's fixed time scale cannot decide (the harness cannot
    raise it per scenario), or the expected reasons given: none is expected."""
    reasons = [f"{cid}: {r}" for cid, rs in verdict["summary"]["must_not_verified"].items() for r in rs]
    return [r for r in reasons if ": skipped: " not in r and ": no scenario of it applies" not in r
            and not undecidable(r) and not any(e in r for e in expected)]


@quiet_machine
def test_with_a_reset_request_the_whole_gateway_profile_runs_without_a_failure_against_running_gateways(
        tmp_path: Path, leases: list[PortLease]) -> None:
    gateways = the_chains_the_scenarios_use(leases)
    with ExitStack() as stack:
        services = [stack.enter_context(running(g, admin_reset=True)) for g in gateways]
        targets = [url_target_file(tmp_path, g, service, RESET, log_file=service.log_path)  # type: ignore[attr-defined]
                   for g, service in zip(gateways, services, strict=True)]
        done, verdicts = run_gateway_profile(targets, tmp_path / "reports")
    # Each deployment skips the scenarios of the other provider chains: incomplete, never failed.
    failed = {name: v["summary"]["must_failed"] for name, v in verdicts.items() if v["verdict"] != "incomplete"}
    assert done.returncode == 3 and not failed, (failed, done.stdout[-2000:] + done.stderr[-2000:])
    assert sorted(verdicts) == sorted(g.name for g in gateways)
    for name, verdict in verdicts.items():
        assert verdict["verdict"] == "incomplete" and verdict["kind"] == "url", (name, verdict["summary"])
        assert verdict["summary"]["must_failed"] == {} and not not_skipped(verdict), (name, not_skipped(verdict),
                                                                                      verdict["summary"])
    assert results(verdicts["openai-gateway"], *STATEFUL) == {"passed"}
    assert "@fresh-instance" not in done.stdout
    must = {c.id for c in catalogue().clauses.values() if c.profile == "gateway" and c.level == "MUST"}
    missing = must - verified_together(list(verdicts.values()))
    assert NEEDS_A_STARTED_GATEWAY | MIXED_CHAINS <= missing, "clauses a url deployment cannot verify were verified"
    # Any other gap is a timed check too fine for the one scale a running gateway keeps (a 3 s
    # Retry-After to 10 % at 0.1, a cleanup timeout of half a real second), or one a busy machine could not
    # decide.
    # (Rows of other provider chains skip in each deployment; they are not what keeps a clause open.)
    reasons = {cid: [r for v in verdicts.values() for r in v["clauses"][cid]["reasons"]
                     if "skipped" in r and "the running gateway's fixed providers are" not in r or undecidable(r)]
               for cid in missing - NEEDS_A_STARTED_GATEWAY - MIXED_CHAINS}
    decided = {cid: [r for r in rs if not undecidable(r)] for cid, rs in reasons.items()
               if not only_undecidable({cid: rs})}
    assert not decided, f"MUST clauses the url deployments together did not verify: {decided}"


def verified_together(verdicts: list[dict[str, Any]]) -> set[str]:
    """Clauses every applicable scenario of which passed against one deployment or another (each
    deployment verifies only the rows of its own provider chain)."""
    passed = {key for v in verdicts for key, case in v["scenarios"].items() if case["outcome"] == "passed"}
    cases = verdicts[0]["scenarios"]
    # A clause one deployment verified on its own checks counts too (its scenario may have skipped
    # on a check of another clause it could not decide).
    on_its_checks = {cid for v in verdicts for cid, clause in v["clauses"].items() if clause["result"] == "passed"}
    return on_its_checks | {cid for cid in verdicts[0]["clauses"]
                            if (mine := [k for k, case in cases.items() if cid in case["clauses"] and case["applies"]])
                            and all(k in passed for k in mine)}


def test_without_a_reset_request_the_scenarios_that_need_a_fresh_instance_skip_with_the_reason(
        tmp_path: Path, leases: list[PortLease]) -> None:
    gateway = deployment(leases, "openai-gateway", ("primary", "openai"))
    with running(gateway, admin_reset=False) as service:
        done, verdicts = run_gateway_profile([url_target_file(tmp_path, gateway, service, reset=None)],
                                             tmp_path / "reports")
    assert done.returncode == 3, done.stdout[-4000:] + done.stderr[-2000:]
    verdict = verdicts["openai-gateway"]
    assert verdict["verdict"] == "incomplete" and verdict["summary"]["must_failed"] == {}, verdict["summary"]
    assert results(verdict, *STATEFUL) == {"not verified"}
    fresh = "declares no [url] reset request to put it back to its start state"
    assert any(fresh in reason for reason in verdict["clauses"]["GW-BREAKER-001"]["reasons"])
    assert results(verdict, "GW-AUTH-001", "GW-INPUT-005") == {"passed"}
    # One chain verifies a clause only where every row of it fits the chain: its other rows skip.
    assert verdict["scenarios"]["features/gateway/streaming.feature:8 [openai]"]["outcome"] == "passed"
    assert results(verdict, "GW-STREAM-001") == {"not verified"}
    assert all("fixed providers are primary (openai)" in r for r in verdict["clauses"]["GW-STREAM-001"]["reasons"])
    assert fresh in done.stdout
    assert results(verdict, *LOG_CLAUSES[:3]) == {"not verified"}  # no [url] log_file either
    no_log = "declares no [url] log_file, so its log is not visible"
    assert no_log in done.stdout
    assert not not_skipped(verdict, no_log), not_skipped(verdict, no_log)


def test_a_reset_request_the_service_refuses_stops_each_scenario_with_its_answer(
        tmp_path: Path, leases: list[PortLease]) -> None:
    gateway = deployment(leases, "openai-gateway", ("primary", "openai"))
    with running(gateway, admin_reset=False) as service:  # the reference offers the route only when asked to
        target = url_target_file(tmp_path, gateway, service, RESET)
        done, verdicts = run_gateway_profile([target], tmp_path / "reports", "-m", "GW-HEALTH-001 or GW-AUTH-004")
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-2000:]
    assert f'the reset request [url] reset = "{RESET}" answered 404' in done.stdout
    assert results(verdicts["openai-gateway"], "GW-HEALTH-001", "GW-AUTH-004") == {"failed"}


def test_the_reference_gateways_reset_route_needs_the_token(leases: list[PortLease]) -> None:
    with running(deployment(leases, "openai-gateway", ("primary", "openai")), admin_reset=True) as service:
        url = service.base_url + "/admin/reset"
        assert httpx.post(url).status_code == 401
        assert httpx.post(url, headers={"Authorization": "Bearer wrong"}).status_code == 403
        answer = httpx.post(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.json() == {"in_flight": 0}
