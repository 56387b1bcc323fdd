"""A real gateway: LiteLLM (targets/examples/litellm.toml), judged at time scale 1 on a subset of
the gateway profile, each clause on its own checks.

LiteLLM runs from its own venv (`make litellm`: .litellm/venv, built once from PyPI, then reused),
never from Faultline's. The subset is chosen to prove, on an implementation not written here,
what the references cannot: LiteLLM lists its providers' models as it starts (its own requests,
never attempts), sends envelopes of its own (so an envelope check fails while the behaviour
checks of the same scenario are still judged), cannot scale time (every wait is the clause's real
value), and answers timeouts and stream cuts its own way. Each expectation below is what LiteLLM
really does, checked by hand against the run's evidence (docs/implementations.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from dataclasses import dataclass

import pytest

from harness.plugin import PROJECT_ROOT
from tests.commands import run_command

LITELLM_BIN = PROJECT_ROOT / ".litellm" / "venv" / "bin"
TARGET = PROJECT_ROOT / "targets" / "examples" / "litellm.toml"

# pytest -k fragments of the scenarios run, each for what it proves.
SUBSET = (
    "six_attempts_spaced_by_the_backoff_schedule",      # a retry schedule, after LiteLLM's own GET /v1/models
    "never_retried and openai-400",                     # envelope check fails, the retry check passes
    "retryafter_within_the_cap",                        # Retry-After waited
    "stream_cut_after_the_first_byte and openai",       # a stream cut mid-way
    "never_answers_yields_504",                         # the upstream timeout
    "exhausted_first_provider_hands_over and openai-openai",  # fallback to the next provider
)


def _pypi_unreachable() -> str | None:
    """Why PyPI cannot be reached from here, or None when it can."""
    probe = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "litellm"], capture_output=True,
                           text=True, timeout=120)
    if probe.returncode == 0:
        return None
    return (probe.stderr.strip().splitlines() or ["pip index versions litellm failed"])[-1]


@pytest.fixture(scope="module")
def litellm_path() -> str:
    """PATH with LiteLLM's venv first, after building it if it is missing or out of date."""
    built = subprocess.run(["make", "-s", "litellm"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1200)
    if built.returncode != 0:
        unreachable = _pypi_unreachable()
        if unreachable is not None:
            pytest.skip(f"PyPI is unreachable, so LiteLLM cannot be installed into .litellm/venv: {unreachable}")
        pytest.fail(f"`make litellm` failed with PyPI reachable:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}")
    return f"{LITELLM_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


@dataclass(frozen=True)
class Run:
    verdict: Mapping[str, Any]
    history: Path          # the scenarios' recorded events, one JSON line each

    def ran(self) -> dict[str, Mapping[str, Any]]:
        """The scenarios that ran, by name."""
        return {case["name"]: case for case in self.verdict["scenarios"].values() if case["outcome"] != "not run"}

    def case(self, name: str) -> Mapping[str, Any]:
        """The one scenario that ran whose name starts with `name` (an outline row adds its example)."""
        found = [case for full, case in self.ran().items() if full.startswith(name)]
        assert len(found) == 1, f"no single scenario {name!r} ran: {sorted(self.ran())}"
        return found[0]

    def clause(self, clause_id: str) -> str:
        return str(self.verdict["clauses"][clause_id]["result"])

    def events(self, scenario_fragment: str, kind: str) -> list[dict[str, Any]]:
        lines = [line for path in self.history.glob(f"*{scenario_fragment}*") for line in path.read_text().splitlines()]
        return [event for event in map(json.loads, lines) if event["kind"] == kind]


@pytest.fixture(scope="module")
def run(litellm_path: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    reports = tmp_path_factory.mktemp("litellm") / "reports"
    selection = " or ".join(f"({fragment})" for fragment in SUBSET)
    done = run_command([sys.executable, "-m", "harness.cli", "run", "--target", str(TARGET), "--workers", "3",
                        "--reports-dir", str(reports), "--", "-k", selection],
                       cwd=PROJECT_ROOT, timeout=600, env={**os.environ, "PATH": litellm_path})
    path = reports / "verdict-litellm.json"
    assert path.is_file(), done.stdout[-4000:] + done.stderr[-3000:]
    assert done.returncode == 1, f"LiteLLM is not conformant; the run exited {done.returncode}: {done.stdout[-3000:]}"
    return Run(json.loads(path.read_text()), reports / "history")


def _check(case: Mapping[str, Any], step: str) -> Mapping[str, Any]:
    found = [c for c in case["checks"] if step in c["step"]]
    assert len(found) == 1, f"{case['name']}: no single check {step!r} in {[c['step'] for c in case['checks']]}"
    return found[0]


def test_each_scenario_of_the_subset_ran_to_its_checks_with_nothing_left_to_the_harness(run: Run) -> None:
    """No scenario failed outside its checks (a crash, a client timeout), skipped, or left a check
    not verified: every result below is LiteLLM's."""
    ran = run.ran()
    assert len(ran) == len(SUBSET), sorted(ran)
    for case in ran.values():
        assert case["applies"] and case["outcome"] in ("passed", "failed"), (case["name"], case["outcome"],
                                                                           case["reason"])
        assert case["checks"], case["name"]
        assert "outside its checks" not in case["reason"], case["reason"]
        assert all(c["outcome"] in ("passed", "failed") for c in case["checks"]), \
            [(c["step"], c["outcome"], c["message"]) for c in case["checks"]]


def test_the_retry_schedule_is_measured_from_the_clients_call_not_litellms_own_requests(run: Run) -> None:
    """LiteLLM lists the provider's models as it starts (GET /v1/models): evidence, not an
    attempt. Six attempts, spaced about 1, 2, 4, 8, 16 s (0.95 s x 2^(n-1) plus 0 to 0.1 s)."""
    case = run.case("A provider that keeps failing sees six attempts spaced by the backoff schedule")
    own = run.events("six_attempts", "own_request")
    assert own and all(e["data"]["path"] == "/v1/models" for e in own), own
    assert _check(case, 'received 6 requests')["outcome"] == "passed"
    assert _check(case, "follow the gateway backoff schedule")["outcome"] == "passed"
    assert run.clause("GW-RETRY-004") == "passed" and run.clause("GW-RETRY-005") == "passed"


def test_a_failed_envelope_check_leaves_the_retry_check_of_its_scenario_judged(run: Run) -> None:
    """LiteLLM's 400 is {"error": {"message", "type", "param", "code": "400"}}: no details, no
    correlation id, not the vocabulary's code. That fails the envelope clauses and says nothing
    of the retry: the provider saw one request, so GW-RETRY-002 is judged on that."""
    case = run.case("A 400 from a openai provider is never retried")
    envelope = _check(case, "error envelope with code \"VALIDATION_ERROR\": the envelope's shape")
    assert envelope["outcome"] == "failed" and "error.details is missing" in envelope["message"], envelope
    assert "GW-RETRY-002" not in envelope["clauses"], envelope
    retried = _check(case, "received 1 request")
    assert retried["outcome"] == "passed" and "GW-RETRY-002" in retried["clauses"], retried
    assert run.clause("GW-VOC-005") == "failed"


def test_retry_after_is_waited(run: Run) -> None:
    """A 429 with retry-after: 5: LiteLLM waits it (at least 5 s, at most 10 % more)."""
    case = run.case("A Retry-After within the cap is waited instead of the computed delay")
    assert _check(case, "about 5 seconds")["outcome"] == "passed"
    assert _check(case, "status is 200")["outcome"] == "passed"


def test_a_stream_cut_mid_way_is_judged_on_its_stream_checks(run: Run) -> None:
    """LiteLLM passes the delivered text on, nothing repeated, does not retry the cut stream,
    and ends it with one error event; but that event is its own ({"message", "type", "param",
    "code": "500"}), not the envelope with STREAM_INTERRUPTED and details.delivered_text."""
    case = run.case("A openai stream cut after the first byte ends with a terminal error event")
    assert _check(case, "prefix of what provider")["outcome"] == "passed"
    assert _check(case, "received 1 request")["outcome"] == "passed"
    assert _check(case, "a terminal error event")["outcome"] == "passed"
    envelope = _check(case, "the event's envelope")
    assert envelope["outcome"] == "failed" and "lacks ['details', 'correlation_id']" in envelope["message"], envelope
    assert "GW-STREAM-006" not in envelope["clauses"], envelope   # not the clause of where the call went
    assert _check(case, "the code STREAM_INTERRUPTED")["outcome"] == "failed"
    assert _check(case, "reports the text delivered")["outcome"] == "failed"


def test_the_upstream_timeout_is_judged_on_its_own_checks(run: Run) -> None:
    """LiteLLM gives up on a silent provider after its 25 s timeout, makes no further attempt,
    and answers 408 (its APITimeoutError), not 504 GATEWAY_TIMEOUT."""
    case = run.case("A provider that never answers yields 504 GATEWAY_TIMEOUT after the upstream timeout")
    code = _check(case, "error envelope with code \"GATEWAY_TIMEOUT\": the code")
    assert code["outcome"] == "failed" and "-> 408" in code["message"], code
    assert _check(case, "received 1 request")["outcome"] == "passed"
    assert run.clause("GW-TIMEOUT-001") == "failed"


def test_an_exhausted_provider_falls_back_to_the_next(run: Run) -> None:
    """After six attempts at the first provider, LiteLLM's model-group fallback answers from the
    second; it has no fallback counter labelled by type."""
    case = run.case("An exhausted openai provider hands over to the next in the chain")
    assert _check(case, 'completion text is "From the fallback"')["outcome"] == "passed"
    assert _check(case, "received 6 requests")["outcome"] == "passed"
    counter = _check(case, 'the metric "llm_fallback_triggered_total"')
    assert counter["outcome"] == "failed" and counter["clauses"] == ["GW-OBS-005"], counter
    assert run.clause("GW-OBS-005") == "failed"
