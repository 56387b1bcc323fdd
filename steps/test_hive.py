"""Hive profile scenarios (features/hive) and their hive-only phrases."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest
from pytest_bdd import given, parsers, scenarios, when

from fault_injection.gpu.journal import JournalEntry, exits, of_kind, workers_started
from fault_injection.plugin import ScenarioNetwork
from harness.background import InFlight, in_background
from catalogue import vocabulary
from harness.chat import bearer, error_details
from harness.envelope import envelope_problems, error_code
from harness.cli_runs import CliRun, cli_argv, run_cli
from harness.errors import TargetStartError, WaitTimeout
from harness.exchange import Exchange, exchange_of, send
from harness.fakes.hub import partial_copies
from harness.fuzz import random_field_bodies
from harness.hang_up import send_and_hold
from harness.history import EventKind, History
from harness.portal import BackgroundLoop
from harness.report.evidence import Evidence
from harness.report.recording import deadline_check, record_check, record_cooldown, window_check
from harness.breaker_probes import last_answer, Probe
from harness.resolutions import AT_ONCE_ANSWER, BREAKER_COOLDOWN, CLEANUP, SHUTDOWN, UPSTREAM_TIMEOUT
from harness.probes import listening_ports, process_remains, temp_dir_contents
from harness.rigs.hive import HiveRig, model_ref
from harness.spec_values import HIVE_RETRY_CYCLE, TIMEOUTS
from harness.streaming import StreamExchange, stream_chat
from harness.targets import RunningTarget, TargetContext, TargetSpec, make_target
from harness.timing import ScenarioTiming
from harness.wait import wait_out_cooldown, wait_until
from harness.http_client import http_client
from steps.common import assert_exits_within_cleanup, probe_right_after_opening, probe_shortly_before_the_end
from steps.timed import decided, timed_then, timed_when
from steps.checked import then

scenarios("hive")


@pytest.fixture
def hive_rig(background_loop: BackgroundLoop, history: History, network: ScenarioNetwork,
             time_scale: float, evidence: Evidence) -> Iterator[HiveRig]:
    rig = HiveRig(background_loop, history, network, time_scale=time_scale)
    evidence.register("requests the fake hub received", rig.request_log)
    evidence.register("GPU plan", rig.gpu.plan_text)
    evidence.register("fake worker journal", rig.gpu.journal_text)
    try:
        yield rig
    finally:
        rig.close()


@pytest.fixture
def sut_values(hive_rig: HiveRig) -> dict[str, Any]:
    """Read when the hive starts, i.e. after every Given has shaped the rig."""
    return hive_rig.values()


@pytest.fixture
def before_stop_checks(hive_rig: HiveRig, api_token: str,
                       timing: ScenarioTiming) -> list[Callable[[RunningTarget], None]]:
    """After every scenario that started workers: each worker the hive no longer lists as live is
    really gone, its port free (an orphan is a worker the hive forgot but the OS did not)."""

    def no_orphaned_worker(sut: RunningTarget) -> None:
        starts = workers_started(hive_rig.gpu.journal())
        if not starts or not sut.is_running():
            return
        listed = send("GET", sut.base_url + "/v1/workers/list", headers=bearer(api_token)).json()
        live = [w for w in listed.get("workers", [])
                if w.get("exit_code") is None and w.get("state") not in ("exited", "stopped", "failed")]
        # A listed worker is matched by its id, or, where the hive's ids are not the argv's, its pid or port.
        marks = {str(w.get(key)) for w in live for key in ("id", "worker_id", "pid", "port") if w.get(key) is not None}
        gone = [s for s in starts if not {str(s.worker_id), str(s.pid), str(s.get("port"))} & marks]
        ports = {int(s.get("port")) for s in gone if s.get("port") is not None}
        wait_until(lambda: not any(process_remains(s.pid, s.t) for s in gone) and not listening_ports(ports),
                   timeout=timing.clock().deadline(TIMEOUTS.cleanup),
                   what=f"workers the hive no longer lists ({sorted(str(s.worker_id) for s in gone)}) to be gone "
                        f"with their ports")

    return [no_orphaned_worker]


def _download(sut: RunningTarget, token: str, repo: str, cid: str | None = None,
              client: httpx.Client | None = None) -> Exchange:
    return send("POST", sut.base_url + "/v1/models/download", json_body={"model_ref": model_ref(repo)},
                headers=bearer(token, cid), client=client)


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


@when(parsers.re(r'a client downloads models "(?P<stem>[^"]+)-(?P<first>\d+)" to "(?P=stem)-(?P<last>\d+)" '
                 r'one after another$'), converters={"first": int, "last": int}, target_fixture="exchanges")
def when_download_numbered(sut: RunningTarget, api_token: str, stem: str, first: int, last: int) -> list[Exchange]:
    return [_download(sut, api_token, f"{stem}-{n}") for n in range(first, last + 1)]


@when(parsers.re(r'clients download models "(?P<stem>[^"]+)-(?P<first>\d+)" to "(?P=stem)-(?P<last>\d+)" at the same '
                 r'time$'), converters={"first": int, "last": int}, target_fixture="exchanges")
def when_download_together(sut: RunningTarget, api_token: str, stem: str, first: int, last: int,
                           timing: ScenarioTiming) -> list[Exchange]:
    """One client per model, all at once: failed downloads that take their whole backoff each
    (31 spec s) overlap instead of adding up."""
    flights = [in_background(partial(_download, sut, api_token, f"{stem}-{n}")) for n in range(first, last + 1)]
    return [flight.wait(timeout=timing.clock().patience(TIMEOUTS.request + HIVE_RETRY_CYCLE)) for flight in flights]


@when(parsers.re(r'clients download models "(?P<stem>[^"]+)-(?P<first>\d+)" to "(?P=stem)-(?P<last>\d+)", each once '
                 r'the hub has seen the one before$'), converters={"first": int, "last": int},
      target_fixture="exchanges")
def when_download_in_turn(sut: RunningTarget, api_token: str, hive_rig: HiveRig, stem: str, first: int, last: int,
                          timing: ScenarioTiming) -> list[Exchange]:
    """Downloads that overlap without arriving as one burst (a burst of new requests delays the
    retries of the first ones by the time the implementation takes to take in the rest): each
    starts once the hub has its model's first metadata request."""
    def seen(path: str) -> bool:
        return any(r.path == path for r in hive_rig.hub.requests)

    flights = []
    for n in range(first, last + 1):
        flights.append(in_background(partial(_download, sut, api_token, f"{stem}-{n}")))
        path = f"/api/models/{stem}-{n}"   # its metadata request (harness/fakes/hub.py)
        wait_until(partial(seen, path), timeout=timing.clock().patience(TIMEOUTS.request),
                   what=f"the hub to see {path}")
    return [flight.wait(timeout=timing.clock().patience(TIMEOUTS.request + HIVE_RETRY_CYCLE)) for flight in flights]


@when(parsers.re(r'clients download models "(?P<stem>[^"]+)-(?P<first>\d+)" to "(?P=stem)-(?P<last>\d+)" at the same '
                 r'time, then "(?P=stem)-(?P<after>\d+)"$'), converters={"first": int, "last": int, "after": int},
      target_fixture="exchanges")
def when_download_together_then_one(sut: RunningTarget, api_token: str, stem: str, first: int, last: int,
                                    after: int, timing: ScenarioTiming) -> list[Exchange]:
    """The last failure a whole retry cycle after the first ones: a breaker that counts its
    cooldown from the first failure rather than the opening then shows it."""
    together = when_download_together(sut, api_token, stem, first, last, timing)
    return [*together, _download(sut, api_token, f"{stem}-{after}")]


@pytest.fixture
def upstream_request_times(hive_rig: HiveRig) -> list[float]:
    """When the hub's requests arrived, in order: what the breaker steps measure from."""
    return sorted(r.t for r in hive_rig.hub.requests)


@when("the hub breaker cooldown has elapsed")
def when_hub_cooldown(hive_rig: HiveRig, exchanges: list[Exchange], timing: ScenarioTiming,
                      history: History) -> None:
    record_cooldown(history, hive_rig.hub.source, wait_out_cooldown(
        [r.t for r in hive_rig.hub.requests], timing.clock(), "the hub", answered_at=last_answer(exchanges)))


@when("a client probes the hub breaker right after it opened")
def when_probe_hub_right_after_opening(sut: RunningTarget, api_token: str, breaker_probes: list[Probe]) -> None:
    probe_right_after_opening(lambda: _download(sut, api_token, "acme/tiny-chat"), breaker_probes)


@timed_when(parsers.parse("a client probes the hub breaker shortly before its cooldown ends"), BREAKER_COOLDOWN)
def when_probe_hub_before_the_end(sut: RunningTarget, api_token: str, hive_rig: HiveRig, exchanges: list[Exchange],
                                  breaker_probes: list[Probe], timing: ScenarioTiming) -> None:
    probe_shortly_before_the_end(lambda client: _download(sut, api_token, "acme/tiny-chat", client=client),
                                 [r.t for r in hive_rig.hub.requests], exchanges, breaker_probes, timing.clock(),
                                 "the hub")


@when("a client starts a download that stays in flight at the hub")
def when_download_in_flight(sut: RunningTarget, api_token: str, hive_rig: HiveRig, in_flight: list[InFlight[Any]],
                            timing: ScenarioTiming) -> None:
    seen = len(hive_rig.hub.requests)
    in_flight.append(in_background(partial(_download, sut, api_token, "acme/tiny-chat")))
    hive_rig.hub.wait_for_requests(seen + 1, timeout=timing.clock().patience(TIMEOUTS.request))


@then("the hive's temp dir is empty")
def then_temp_dir_empty(sut: RunningTarget) -> None:
    if sut.temp_dir is None:
        pytest.skip(f"{sut.name} does not share its temp dir with the harness")
    left = temp_dir_contents(sut.temp_dir)
    assert not left, f"left in the hive's temp dir: {left}"


@timed_then(parsers.parse("the hive's temp dir is emptied within the cleanup timeout"), CLEANUP)
def then_temp_dir_emptied(sut: RunningTarget, timing: ScenarioTiming) -> None:
    """After something ended on its own (a worker's crash), which the hive learns of only then."""
    if sut.temp_dir is None:
        pytest.skip(f"{sut.name} does not share its temp dir with the harness")
    clock, temp_dir = timing.clock(), sut.temp_dir
    with suppress(WaitTimeout):
        wait_until(lambda: not temp_dir_contents(temp_dir), timeout=clock.deadline(TIMEOUTS.cleanup),
                   what="the hive's temp dir to be emptied")
    left = temp_dir_contents(temp_dir)
    assert not left, f"left in the hive's temp dir after the cleanup timeout: {left}"
    decided(clock, CLEANUP)


@then("no partial model file is left in the hive's directories")
def then_no_partial_model(sut: RunningTarget, hive_rig: HiveRig) -> None:
    """Judged by content: a file holding the start of a file the hub serves, but not all of it,
    wherever the hive keeps it (its temp dir, the models directory the harness gave it)."""
    places = [d for d in (sut.temp_dir, hive_rig.models_dir) if d is not None]
    partial = [f"{path} ({size} of {total} bytes of {repo}/{name})"
               for path, repo, name, size, total in partial_copies(places, hive_rig.hub.fake.models.values())]
    assert not partial, f"partial copies of hub files left: {partial}"


# Bodies each route would accept: a hive that checks the token late then shows it, by what it did.
ACCEPTABLE_BODIES: dict[str, dict[str, Any]] = {
    "/v1/models/download": {"model_ref": "hf:acme/tiny-chat"},
    "/v1/workers/spawn": {"model_ref": "hf:acme/tiny-chat", "backend": "cuda", "device": 0},
    "/v1/workers/stop": {"worker_id": "worker-0"},
    "/v1/inference": {"prompt": "Say hello", "max_tokens": 8},
}


@when(parsers.re(r"a client calls (?P<method>GET|POST) (?P<path>/\S+) without a token$"), target_fixture="exchange")
def when_call_without_token(sut: RunningTarget, method: str, path: str) -> Exchange:
    return send(method, sut.base_url + path, json_body=ACCEPTABLE_BODIES.get(path, {}) if method == "POST" else None)


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


MIB = 2**20


@when(parsers.re(r"a client posts a body of (?P<size>exactly 1 MiB|1 MiB and 1 byte) to (?P<path>/\S+)$"),
      target_fixture="exchange")
def when_post_sized(sut: RunningTarget, api_token: str, size: str, path: str) -> Exchange:
    """A stop request for an unknown worker padded to the size: refused for its size or not, it does nothing."""
    wanted = MIB + (1 if size.endswith("1 byte") else 0)
    skeleton = json.dumps({"worker_id": "worker-does-not-exist", "pad": ""}).encode()
    body = skeleton.replace(b'"pad": ""', b'"pad": "' + b"x" * (wanted - len(skeleton)) + b'"')
    assert len(body) == wanted
    return send("POST", sut.base_url + path, content=body,
                headers={**bearer(api_token), "content-type": "application/json"})


@then("the response was not refused for its size")
def then_not_refused_for_size(exchange: Exchange) -> None:
    assert exchange.status != 413, \
        f"a body of exactly {MIB} bytes (the 1 MiB limit) was refused with 413: {exchange.describe()}"


@then(parsers.parse('the error details name the fields {fields}'))
def then_details_fields(exchange: Exchange, fields: str) -> None:
    wanted = re.findall(r'"([^"]+)"', fields)
    named = error_details(exchange).get("fields") or {}
    missing = [f for f in wanted if not any(k == f or k.startswith((f + "[", f + ".")) for k in named)]
    assert not missing, f"fields not named: {missing}; details.fields is {named}"


@when(parsers.re(r"a client stops workers with the ids (?P<ids>.+)$"), target_fixture="exchanges")
def when_stop_hostile_ids(sut: RunningTarget, api_token: str, ids: str, timing: ScenarioTiming) -> list[Exchange]:
    """The ids are JSON strings, so escapes such as \\n and \\u001b reach the hive as they are."""
    values = [json.loads(f'"{raw}"') for raw in re.findall(r'"((?:[^"\\]|\\.)*)"', ids)]
    with http_client(timing.clock().patience(TIMEOUTS.request)) as client:
        return [send("POST", sut.base_url + "/v1/workers/stop", json_body={"worker_id": value},
                     headers=bearer(api_token), client=client) for value in values]


@then(parsers.parse('every response was an error envelope with code "{code}" naming the field "{field}"'))
def then_every_response_names(exchanges: list[Exchange], code: str, field: str) -> None:
    for exchange in exchanges:
        problems = envelope_problems(exchange, vocabulary())
        assert not problems, f"not a conforming error envelope: {problems}; {exchange.describe()}"
        assert error_code(exchange) == code, f"expected code {code}: {exchange.describe()}"
        assert field in (error_details(exchange).get("fields") or {}), \
            f"field {field!r} not named: {exchange.describe()}"


@when(parsers.parse("a client posts {count:d} random spawn requests to /v1/workers/spawn"), target_fixture="exchanges")
def when_post_random_spawns(sut: RunningTarget, api_token: str, count: int, timing: ScenarioTiming) -> list[Exchange]:
    """Objects with the spawn request's own fields holding values of every shape, and broken bodies.
    A request the hive drops the connection of is recorded as not answered (status 0), and the
    next one goes on a new connection."""
    headers = {**bearer(api_token), "content-type": "application/json"}
    answers = []
    client = http_client(timing.clock().patience(TIMEOUTS.request))
    try:
        for body in random_field_bodies(count, seed=20261202, fields=("model_ref", "backend", "device")):
            sent_at = time.monotonic()
            try:
                answers.append(exchange_of(client, "POST", sut.base_url + "/v1/workers/spawn", body, headers))
            except httpx.TransportError as exc:
                answers.append(Exchange("POST", sut.base_url + "/v1/workers/spawn", 0, {},
                                        f"no answer: {type(exc).__name__}".encode(), sent_at,
                                        time.monotonic() - sent_at))
                client.close()
                client = http_client(timing.clock().patience(TIMEOUTS.request))
    finally:
        client.close()
    return answers


@then("every request was answered, none with a server error")
def then_all_answered_no_server_error(exchanges: list[Exchange]) -> None:
    bad = [e.describe() for e in exchanges if e.status == 0 or e.status >= 500]
    assert not bad, f"{len(bad)} request(s) answered with a server error or not at all, e.g. {bad[:3]}"


@then("the hive log does not contain the token")
def then_log_lacks_token(sut: RunningTarget, api_token: str) -> None:
    if not getattr(sut, "log_visible", True):
        pytest.skip(f"{sut.name} does not show its log to the harness")
    lines = [line for line in sut.log_text().splitlines() if api_token in line]
    assert not lines, f"the hive log contains the client's token: {len(lines)} line(s)"


# -- one request for each error the hive answers at once ---------------------------------------

LEAK_MARKERS = ("leak-marker-5c1e", "leak-marker-9d2b")   # in the hostile value and the prompt sent below


@dataclass(frozen=True)
class Provocation:
    code: str               # the error a conforming hive answers, by the clause named
    clause: str
    method: str
    path: str
    body: Any = None
    token: str | None = "valid"     # "valid", a literal wrong token, or None for no token


PROVOCATIONS = (
    Provocation("UNAUTHORIZED", "HIVE-AUTH-001", "GET", "/v1/workers/list", token=None),
    Provocation("FORBIDDEN", "HIVE-AUTH-002", "GET", "/v1/workers/list", token="hive-wrong-token-17ce"),
    Provocation("NOT_FOUND", "HIVE-ENV-002", "GET", "/v1/no-such-route"),
    Provocation("VALIDATION_ERROR", "HIVE-INPUT-004", "POST", "/v1/workers/spawn",
                {"model_ref": f"hf:acme/tiny-chat; echo {LEAK_MARKERS[0]}", "backend": "cuda", "device": 0}),
    Provocation("PAYLOAD_TOO_LARGE", "HIVE-INPUT-003", "POST", "/v1/workers/stop",
                {"worker_id": "worker-0", "pad": "x" * (2 * MIB)}),
    Provocation("WORKER_NOT_FOUND", "HIVE-VOC-005", "POST", "/v1/workers/stop", {"worker_id": "worker-0"}),
    Provocation("SERVICE_UNAVAILABLE", "HIVE-LIMIT-005", "POST", "/v1/inference",
                {"prompt": f"Say {LEAK_MARKERS[1]}", "max_tokens": 8}),
    Provocation("MODEL_NOT_FOUND", "HIVE-VOC-004", "POST", "/v1/models/download",
                {"model_ref": "hf:acme/no-such-model"}),
    # Before any model that fits is known: GPU_VRAM_EXHAUSTED with no alternative to offer.
    Provocation("GPU_VRAM_EXHAUSTED", "HIVE-GPU-005", "POST", "/v1/workers/spawn",
                {"model_ref": "hf:acme/huge-chat", "backend": "cuda", "device": 0}),
    Provocation("CUDA_DEVICE_FAILED", "HIVE-GPU-001", "POST", "/v1/workers/spawn",
                {"model_ref": "hf:acme/tiny-chat", "backend": "cuda", "device": 5}),
)


@when("a client makes one request for each error the hive answers at once", target_fixture="provoked")
def when_provoke_errors(sut: RunningTarget, api_token: str,
                        timing: ScenarioTiming) -> list[tuple[Provocation, Exchange]]:
    answers = []
    with http_client(timing.clock().patience(TIMEOUTS.request)) as client:
        for p in PROVOCATIONS:
            token = api_token if p.token == "valid" else p.token
            headers = bearer(token) if token else {}
            answers.append((p, send(p.method, sut.base_url + p.path, json_body=p.body, headers=headers,
                                    client=client)))
    return answers


@then("each answer was an error envelope with the HTTP status and the details its code requires")
def then_provoked_conform(provoked: list[tuple[Provocation, Exchange]]) -> None:
    """HIVE-ENV-001, HIVE-VOC-001 and HIVE-VOC-002 for every code the hive can be made to answer at
    once; an answer with another code than its clause asks for is reported too."""
    problems = []
    for provocation, exchange in provoked:
        found = envelope_problems(exchange, vocabulary())
        if not found and error_code(exchange) != provocation.code:
            found = [f"code {error_code(exchange)}, where {provocation.clause} asks for {provocation.code}"]
        if found:
            problems.append(f"{provocation.method} {provocation.path} ({provocation.code}): {'; '.join(found)}")
    assert not problems, f"{len(problems)} of {len(provoked)} answers broke the envelope or the vocabulary: " \
                         + " | ".join(problems)


@then("the hive log shows none of what the requests carried")
def then_provoked_not_logged(provoked: list[tuple[Provocation, Exchange]], sut: RunningTarget, api_token: str) -> None:
    if not getattr(sut, "log_visible", True):
        pytest.skip(f"{sut.name} does not show its log to the harness")
    log = sut.log_text()
    secrets = (api_token, *(p.token for p, _ in provoked if p.token not in (None, "valid")), *LEAK_MARKERS)
    logged = [secret for secret in secrets if secret and secret in log]
    assert not logged, f"the hive log shows what the requests carried: {logged}"


@then("no answer echoed the token or what the request carried")
def then_provoked_no_echo(provoked: list[tuple[Provocation, Exchange]], api_token: str) -> None:
    secrets = (api_token, *(p.token for p, _ in provoked if p.token not in (None, "valid")), *LEAK_MARKERS)
    echoed = [f"{p.method} {p.path} echoed {secret!r}" for p, exchange in provoked for secret in secrets
              if secret and (secret in exchange.text or any(secret in v for v in exchange.headers.values()))]
    assert not echoed, f"an answer echoed what the request carried: {echoed}"


# -- workers ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spawned:
    """A worker a Given spawned through the hive's API: the hive's answer, and the exchange itself."""

    exchange: Exchange

    @property
    def worker_id(self) -> str:
        return str(self.exchange.json()["worker_id"])

    def starts(self, journal: list[JournalEntry]) -> list[JournalEntry]:
        """Its start in the fake worker journal: the entry with its id, or, for a hive whose API ids
        differ from the ids it passes the worker, the starts journaled while its spawn was out."""
        by_id = [s for s in workers_started(journal) if str(s.worker_id) == self.worker_id]
        return by_id or [s for s in workers_started(journal)
                         if self.exchange.sent_at <= s.mono <= self.exchange.answered_at]


@pytest.fixture
def spawned() -> list[Spawned]:
    """Workers the scenario's Givens spawned through the hive's API, newest last."""
    return []


def _spawn(sut: RunningTarget, token: str, repo: str, backend: str, device: int) -> Exchange:
    return send("POST", sut.base_url + "/v1/workers/spawn", headers=bearer(token),
                json_body={"model_ref": model_ref(repo), "backend": backend, "device": device})


@given(parsers.re(r'(?:a|another) worker for model "(?P<repo>[^"]+)" is running on GPU (?P<device>\d+)$'),
       converters={"device": int})
def given_worker_running(sut: RunningTarget, api_token: str, spawned: list[Spawned], repo: str,
                         device: int) -> None:
    exchange = _spawn(sut, api_token, repo, "cuda", device)
    assert exchange.status == 200, f"could not spawn the scenario's worker: {exchange.describe()}"
    spawned.append(Spawned(exchange))


@when(parsers.parse('a client spawns a worker for model "{repo}" on {backend} device {device:d}'),
      target_fixture="exchange")
def when_spawn(sut: RunningTarget, api_token: str, repo: str, backend: str, device: int) -> Exchange:
    return _spawn(sut, api_token, repo, backend, device)


@when("a client stops that worker", target_fixture="exchange")
def when_stop_worker(sut: RunningTarget, api_token: str, spawned: list[Spawned]) -> Exchange:
    return send("POST", sut.base_url + "/v1/workers/stop", headers=bearer(api_token),
                json_body={"worker_id": spawned[-1].worker_id})


@when("a client runs an inference", target_fixture="exchange")
def when_infer(sut: RunningTarget, api_token: str) -> Exchange:
    return send("POST", sut.base_url + "/v1/inference", headers=bearer(api_token),
                json_body=_inference_body(stream=False))


@when("the hive is started", target_fixture="start_failure")
def when_hive_started(target_spec: TargetSpec, sut_context: TargetContext) -> TargetStartError | None:
    try:
        running = make_target(target_spec).start(sut_context)
    except TargetStartError as failure:
        return failure
    running.stop()
    return None


@then(parsers.parse('the hive exited with code {code:d} and reported "{error}"'))
def then_hive_exited(start_failure: TargetStartError | None, code: int, error: str) -> None:
    assert start_failure is not None, "the hive started and became ready"
    exit_code, output = start_failure.exit_code, start_failure.log_tail   # locals: no TargetStartError in the report
    assert exit_code == code, f"the hive exited with exit code {exit_code}, expected {code}; its output:\n{output}"
    assert error in output, f"{error} not in its output:\n{output}"


@timed_then(parsers.parse("it exited at once after asking nvidia-smi"), AT_ONCE_ANSWER)
def then_hive_exited_at_once(start_failure: TargetStartError | None, hive_rig: HiveRig, target_spec: TargetSpec,
                             history: History, timing: ScenarioTiming) -> None:
    """From the first GPU query the fake nvidia-smi journaled (or, for a hive that asked none, the
    process's start) to the exit the harness saw: no waiting for the GPU, no retrying it."""
    clock = timing.clock()
    assert start_failure is not None, "the hive started and became ready"
    source = f"target:{target_spec.name}"
    exited = history.events(EventKind.PROCESS_EXIT, source)
    queries = of_kind(hive_rig.gpu.journal(), "nvidia_smi")
    assert exited, "the harness saw no exit of the hive"
    started = queries[0].mono if queries else history.events(EventKind.PROCESS_START, source)[-1].t
    waited = exited[-1].t - started
    what = "after it first asked nvidia-smi" if queries else "after it started (it never asked nvidia-smi)"
    record_check(history, window_check(f"the daemon exits at once {what}", "exit", waited, 0.0, clock.at_once,
                                       note=clock.note()))
    assert waited <= clock.at_once, \
        f"the hive exited {waited:.3f} s {what} ({len(queries)} GPU queries); at once allows {clock.at_once:.3f} s"
    decided(clock, AT_ONCE_ANSWER)


@then(parsers.re(r"the error details say (?P<key>\w+) is (?P<value>-?\d+)$"), converters={"value": int})
def then_details_value(exchange: Exchange, key: str, value: int) -> None:
    actual = error_details(exchange).get(key)
    assert actual == value, f"details.{key} is {actual!r}, expected {value}: {exchange.describe()}"


@then(parsers.parse("the VRAM details say {required:d} MiB required and {available:d} MiB available "
                    "on device {device:d}"))
def then_vram_details(exchange: Exchange, required: int, available: int, device: int) -> None:
    details = error_details(exchange)
    observed = (details.get("required_vram_mib"), details.get("available_vram_mib"), details.get("device"))
    assert observed == (required, available, device), \
        f"VRAM details say {observed[0]} MiB required, {observed[1]} MiB available, device {observed[2]}; " \
        f"expected {required}, {available}, {device}"


@then(parsers.parse('the alternative models fit in {available:d} MiB and include "{repo}"'))
def then_alternatives(exchange: Exchange, hive_rig: HiveRig, available: int, repo: str) -> None:
    offered = hive_rig.hub.fake.models
    alternatives = [str(a).removeprefix("hf:") for a in error_details(exchange).get("alternative_models") or []]
    assert repo in alternatives, f"{repo} is not among the alternatives {alternatives}"
    too_big = [a for a in alternatives if a in offered and offered[a].required_vram_mib > available]
    assert not too_big, f"alternatives that do not fit: {too_big}"


@then("the stop response reports the exit code the worker journaled")
def then_stop_code_journaled(exchange: Exchange, hive_rig: HiveRig, spawned: list[Spawned]) -> None:
    body = exchange.json()
    journal = hive_rig.gpu.journal()
    journaled = [code for start in spawned[-1].starts(journal) for code in exits(journal, start.worker_id)]
    assert journaled and body.get("exit_code") == journaled[-1], \
        f"hive says {body.get('exit_code')}, journal says {journaled}: {body}"


@then(parsers.parse("the stop response reports exit code {code:d}"))
def then_stop_code(exchange: Exchange, code: int) -> None:
    reported = exchange.json().get("exit_code") if exchange.status == 200 else None
    assert reported == code, f"expected exit_code {code}, the stop response says {reported}: {exchange.describe()}"


@timed_then(parsers.parse("the stop took less than the cleanup timeout"), CLEANUP)
def then_stop_quick(exchange: Exchange, timing: ScenarioTiming, history: History) -> None:
    clock = timing.clock()
    limit = clock.deadline(TIMEOUTS.cleanup)
    record_check(history, window_check("stop within the cleanup timeout", "stop response", exchange.elapsed, 0.0, limit,
                                       note=clock.note()))
    assert exchange.elapsed <= limit, f"stop took {exchange.elapsed:.3f}s, allowed {limit:.3f}s"
    decided(clock, CLEANUP)


@timed_then(parsers.parse("that worker's process is gone and its port is free"), CLEANUP)
def then_worker_gone(spawned: list[Spawned], hive_rig: HiveRig, timing: ScenarioTiming) -> None:
    """By the process the worker journal says started (its pid), not by what its argv says: a
    zombie nothing reaped is not gone."""
    clock = timing.clock()
    worker = spawned[-1]
    starts = worker.starts(hive_rig.gpu.journal())
    assert starts, f"no worker start in the journal belongs to worker {worker.worker_id}"
    ports = {int(s.get("port")) for s in starts if s.get("port") is not None}

    def left() -> str:
        return ", ".join(f"pid {s.pid} {state}" for s in starts if (state := process_remains(s.pid, s.t))) + \
            (f", ports {sorted(listening_ports(ports))}" if listening_ports(ports) else "")

    wait_until(lambda: not left(), timeout=clock.deadline(TIMEOUTS.cleanup),
               what=f"worker {worker.worker_id} to be gone and its port free", describe=left)
    decided(clock, CLEANUP)


@timed_then(parsers.parse("the worker list reports that worker's exit code as the worker journaled it"), CLEANUP,
            speaks_for=None)   # the exit code is every clause's of the scenario, not only the cleanup's
def then_list_exit_code(sut: RunningTarget, api_token: str, spawned: list[Spawned], hive_rig: HiveRig,
                        timing: ScenarioTiming) -> None:
    clock = timing.clock()
    worker_id = spawned[-1].worker_id

    def reported() -> Any:
        listed = send("GET", sut.base_url + "/v1/workers/list", headers=bearer(api_token)).json()
        return next((w.get("exit_code") for w in listed.get("workers", [])
                     if w.get("id", w.get("worker_id")) == worker_id and w.get("exit_code") is not None), None)

    code = wait_until(lambda: reported() is not None and [reported()], timeout=clock.deadline(TIMEOUTS.cleanup),
                      what=f"the hive to report how worker {worker_id} ended")[0]
    journal = hive_rig.gpu.journal()
    journaled = [c for start in spawned[-1].starts(journal) for c in exits(journal, start.worker_id)]
    assert journaled and code == journaled[-1], f"hive says {code}, journal says {journaled}"
    decided(clock, CLEANUP)


@then("the error details name the worker that crashed")
def then_details_name_worker(exchange: Exchange, spawned: list[Spawned]) -> None:
    named = error_details(exchange).get("worker_id")
    assert named == spawned[-1].worker_id, \
        f"details.worker_id is {named!r}, the worker that crashed is {spawned[-1].worker_id}: {exchange.describe()}"


@then("the inference was not routed to the crashed worker")
def then_not_routed_to_crashed(exchange: Exchange, spawned: list[Spawned], hive_rig: HiveRig) -> None:
    """Turned away for want of a ready worker, or served by another worker (a hive may start one):
    never sent to the dead one, which fails it as a crash or a refused connection."""
    journal = hive_rig.gpu.journal()
    dead = {str(s.worker_id) for s in spawned[-1].starts(journal)}
    reached = [e for e in of_kind(journal, "inference_started") if e.mono >= exchange.sent_at]
    served = any(str(e.worker_id) not in dead for e in reached)
    assert error_code(exchange) == "SERVICE_UNAVAILABLE" or served, \
        f"answered {error_code(exchange) or exchange.status} without reaching a live worker: routed to the dead " \
        f"one: {exchange.describe()}"


@timed_then(parsers.parse("the hive exits within the cleanup timeout"), SHUTDOWN)
def then_hive_exits(sut: RunningTarget, timing: ScenarioTiming, history: History) -> None:
    assert_exits_within_cleanup(sut, timing.clock(), history, "hive exit within the cleanup timeout")


@then(parsers.parse("the hive exited with code {code:d}"))
def then_hive_exit_code(sut: RunningTarget, code: int) -> None:
    observed = sut.wait_exit(0.0)  # type: ignore[attr-defined]
    assert observed == code, f"the hive exited with {observed}, expected {code}:\n{sut.log_tail()}"


@given(parsers.parse('the hive has downloaded model "{repo}"'))
def given_downloaded(sut: RunningTarget, api_token: str, repo: str) -> None:
    exchange = _download(sut, api_token, repo)
    assert exchange.status == 200, f"could not download the scenario's model: {exchange.describe()}"


# -- inference -------------------------------------------------------------------------------

INFERENCE_PATH = "/v1/inference"


def _inference_body(*, stream: bool) -> dict[str, Any]:
    return {"prompt": "Say hello", "max_tokens": 8, "stream": stream}


def _inferences_started(hive_rig: HiveRig) -> int:
    return len(of_kind(hive_rig.gpu.journal(), "inference_started"))


@when(parsers.parse('a client runs an inference with correlation id "{cid}"'), target_fixture="exchange")
def when_infer_with_id(sut: RunningTarget, api_token: str, cid: str) -> Exchange:
    return send("POST", sut.base_url + INFERENCE_PATH, headers=bearer(api_token, cid),
                json_body=_inference_body(stream=False))


@then(parsers.parse('every inference the worker journal shows carried the correlation id "{cid}"'))
def then_worker_correlation(hive_rig: HiveRig, cid: str) -> None:
    carried = [e.get("correlation_id") for e in of_kind(hive_rig.gpu.journal(), "inference_started")]
    assert carried and all(c == cid for c in carried), \
        f"the worker received inferences without the correlation id {cid!r}: {carried}"


@given(parsers.re(r"the hive admits (?P<slots>\d+) inferences? per worker and queues (?P<queue>none|\d+)$"))
def given_hive_limits(hive_rig: HiveRig, slots: str, queue: str) -> None:
    hive_rig.limits.slots_per_worker = int(slots)
    hive_rig.limits.max_queue = 0 if queue == "none" else int(queue)


@when(parsers.re(r"a client streams an inference(?: and hangs up after (?P<events>\d+) events)?$"),
      target_fixture="stream_exchange")
def when_stream_inference(sut: RunningTarget, api_token: str, events: str | None) -> StreamExchange:
    return stream_chat(sut.base_url + INFERENCE_PATH, _inference_body(stream=True), bearer(api_token),
                       disconnect_after=int(events) if events else None)


@when("a client runs an inference and hangs up once the worker has started it")
def when_infer_and_hang_up(sut: RunningTarget, api_token: str, hive_rig: HiveRig, timing: ScenarioTiming) -> None:
    seen = _inferences_started(hive_rig)
    held = send_and_hold(sut.base_url + INFERENCE_PATH, _inference_body(stream=False), bearer(api_token))
    try:
        wait_until(lambda: _inferences_started(hive_rig) > seen, timeout=timing.clock().patience(TIMEOUTS.request),
                   what="the inference to reach a worker")
    finally:
        early = held.hang_up()
    assert not early, f"the hive answered before the client hung up: {early[:300]!r}"


@when(parsers.re(r"(?P<count>\d+) clients? starts? an inference that stays in flight at the worker$"),
      converters={"count": int})
def when_inference_in_flight(sut: RunningTarget, api_token: str, hive_rig: HiveRig, in_flight: list[InFlight[Any]],
                             count: int, timing: ScenarioTiming) -> None:
    for _ in range(count):
        seen = _inferences_started(hive_rig)
        flight = in_background(partial(send, "POST", sut.base_url + INFERENCE_PATH,
                                       json_body=_inference_body(stream=False), headers=bearer(api_token)))
        in_flight.append(flight)
        wait_until(lambda seen=seen, flight=flight: _inferences_started(hive_rig) > seen or flight.finished,
                   timeout=timing.clock().patience(TIMEOUTS.request), what="the inference to reach a worker")
        assert _inferences_started(hive_rig) > seen, f"answered before reaching a worker: {flight.wait(0).describe()}"


@when(parsers.parse("{count:d} clients run inferences at the same time"), target_fixture="exchanges")
def when_inferences_together(sut: RunningTarget, api_token: str, count: int, timing: ScenarioTiming) -> list[Exchange]:
    flights = [in_background(partial(send, "POST", sut.base_url + INFERENCE_PATH,
                                     json_body=_inference_body(stream=False), headers=bearer(api_token)))
               for _ in range(count)]
    return [flight.wait(timeout=timing.clock().patience(TIMEOUTS.request)) for flight in flights]


def _last_inference(hive_rig: HiveRig) -> tuple[JournalEntry | None, JournalEntry | None]:
    """The last inference a worker started, and the close of the hive's connection for it, if seen."""
    journal = hive_rig.gpu.journal()
    began = of_kind(journal, "inference_started")
    if not began:
        return None, None
    job = began[-1].get("job_id")
    return began[-1], next((e for e in of_kind(journal, "client_disconnected") if e.get("job_id") == job), None)


@timed_then(parsers.parse("the hive has let go of the worker within the cleanup timeout"), CLEANUP)
def then_hive_let_go(hive_rig: HiveRig, timing: ScenarioTiming, history: History) -> None:
    """Judged like an upstream connection's close: from the inference's start at the worker to
    the cleanup timeout after the check began, by the worker's own journal."""
    clock = timing.clock()
    started, timeout = time.monotonic(), clock.deadline(TIMEOUTS.cleanup)
    with suppress(WaitTimeout):  # judged below from the journal, which the picture shows
        wait_until(lambda: _last_inference(hive_rig)[1], timeout=timeout,
                   what="the worker to see the hive's connection close")
    began, closed = _last_inference(hive_rig)
    check = deadline_check("the hive's connection to the worker closed within the cleanup timeout",
                           "the inference started at the worker" if began else "the check began",
                           "the worker saw the connection close",
                           began.mono if began else started,
                           closed.mono if closed else None, started + timeout, note=clock.note())
    record_check(history, check)
    assert check.passed, f"{check.title}: {check.detail}"
    decided(clock, CLEANUP)


@then(parsers.parse('the stream carried tokens and ended with exactly one terminal event, "{kind}"'))
def then_tokens_and_terminal(stream_exchange: StreamExchange, kind: str) -> None:
    assert stream_exchange.content_pieces, f"no token reached the client: {stream_exchange.describe()}"
    then_one_terminal(stream_exchange, kind)


@then(parsers.parse('the stream carried exactly one terminal event, "{kind}"'))
def then_one_terminal(stream_exchange: StreamExchange, kind: str) -> None:
    assert stream_exchange.terminal_events == [kind], \
        f"terminal events {stream_exchange.terminal_events}, expected exactly one {kind!r}: " \
        f"{stream_exchange.describe()}"
    after = stream_exchange.events[[e.data for e in stream_exchange.events].index(
        next(e.data for e in stream_exchange.events if f'"type":"{kind}"' in e.data.replace(" ", ""))) + 1:]
    assert all('"token"' not in e.data for e in after), "a token followed the terminal event"


@then(parsers.re(r"the worker journal shows (?P<count>\d+) inferences? started$"), converters={"count": int})
def then_inferences_started(hive_rig: HiveRig, count: int) -> None:
    started = of_kind(hive_rig.gpu.journal(), "inference_started")
    assert len(started) == count, f"{len(started)} inference(s) reached a worker, expected {count}"


@then(parsers.parse("the error details carry a non-empty {key}"))
def then_details_non_empty(exchange: Exchange, key: str) -> None:
    assert error_details(exchange).get(key), f"details.{key} is empty or missing: {exchange.describe()}"


@timed_then(parsers.parse("the hive gave up on the worker at the inference timeout"), UPSTREAM_TIMEOUT)
def then_hive_gave_up_at_timeout(hive_rig: HiveRig, exchange: Exchange, timing: ScenarioTiming,
                                 history: History) -> None:
    """Measured where the hive acts, from the worker's journal: from the inference reaching the
    worker to the hive dropping its connection or signalling the worker, whichever came first.
    The hive's clock starts somewhere between the client sending the request and the inference
    reaching the worker (a loaded machine puts tens of milliseconds between them), so the low
    bound is judged on the longest wait that could be (from the client's send), the high bound on
    the shortest (from the worker's receipt): each fails only on a sure violation."""

    def let_go(journal: list[JournalEntry]) -> list[float]:
        started = of_kind(journal, "inference_started")
        return [e.mono for e in journal if started and e.kind in ("client_disconnected", "signal", "exit")
                and e.mono >= started[0].mono]

    # The client may have its 504 a moment before the worker journals the hive letting go.
    with suppress(WaitTimeout):
        wait_until(lambda: let_go(hive_rig.gpu.journal()), timeout=timing.clock().patience(TIMEOUTS.cleanup),
                   what="the worker to see the hive let go")
    journal = hive_rig.gpu.journal()
    started = of_kind(journal, "inference_started")
    assert started, "no inference reached a worker"
    ends = let_go(journal)
    assert ends, f"the hive never let go of the hung worker: {[e.kind for e in journal]}"
    shortest, longest = min(ends) - started[0].mono, min(ends) - exchange.sent_at
    # Judged at both ends of the wait: the hive waiting for a core as its clock starts or as it
    # lets go is the machine's doing (harness.run_queue).
    clock = timing.clock(stamps=[min(ends)], spans=[(exchange.sent_at, started[0].mono)])
    window = clock.window(TIMEOUTS.upstream, TIMEOUTS.upstream)
    within = window.low <= longest and shortest <= window.high
    waited = shortest if shortest > window.high else longest if longest < window.low else shortest
    record_check(history, window_check("the hive waiting on a hung worker: the inference timeout",
                                       "worker let go", waited, window.low, window.high, note=clock.note()))
    assert within, (f"the hive let go of the hung worker {shortest:.3f} s after the inference reached it "
                    f"({longest:.3f} s after the client sent it); the {TIMEOUTS.upstream:g} s inference "
                    f"timeout allows [{window.low:.3f}, {window.high:.3f}] s")
    decided(clock, UPSTREAM_TIMEOUT)


@then("both inferences completed")
def then_both_completed(exchanges: list[Exchange]) -> None:
    assert len(exchanges) == 2, [e.describe() for e in exchanges]
    assert all(e.status == 200 and "error" not in e.json() for e in exchanges), \
        f"not every inference completed: {[e.describe() for e in exchanges]}"


@given(parsers.parse("workers take {seconds:g} seconds per token"))
def given_token_interval(hive_rig: HiveRig, seconds: float) -> None:
    hive_rig.gpu.worker = dataclasses.replace(hive_rig.gpu.worker, token_interval_seconds=seconds)


@then("the worker ran the inferences one after the other")
def then_one_after_the_other(hive_rig: HiveRig, timing: ScenarioTiming) -> None:
    """The queued inference reached the worker only once the one holding the slot had finished
    there: a worker journals an inference's end just after sending it, so the hive may route the
    next one within the timing tolerance before that line is written."""
    clock = timing.clock()
    journal = hive_rig.gpu.journal()
    started = sorted(of_kind(journal, "inference_started"), key=lambda e: e.mono)
    assert len(started) == 2, f"{len(started)} inference(s) reached the worker, expected 2"
    first, queued = started
    finished = [e for e in of_kind(journal, "inference_finished") if e.get("job_id") == first.get("job_id")]
    assert finished, "the first inference never finished at the worker"
    early = finished[0].mono - queued.mono
    assert early <= clock.tolerance, \
        f"the worker started the queued inference {early:.3f} s before the first one finished: it did not wait " \
        f"for the slot"


# -- the CLI -----------------------------------------------------------------------------------

def _cli(target_spec: TargetSpec, sut: RunningTarget, api_token: str, timing: ScenarioTiming, operation: str,
         **values: Any) -> CliRun:
    argv = cli_argv(target_spec, operation, {"base_url": sut.base_url, "token": api_token,
                                             "time_scale": timing.scale, **values})
    return run_cli(argv, timeout=timing.clock().patience(TIMEOUTS.request))


@when(parsers.parse('a user runs the hive CLI to spawn a worker for model "{repo}" on {backend} device {device:d}'),
      target_fixture="cli_run")
def when_cli_spawn(target_spec: TargetSpec, sut: RunningTarget, api_token: str, timing: ScenarioTiming, repo: str,
                   backend: str, device: int) -> CliRun:
    return _cli(target_spec, sut, api_token, timing, "spawn", model_ref=model_ref(repo), backend=backend,
                device=device)


@when(parsers.parse('a user runs the hive CLI to infer "{prompt}"'), target_fixture="cli_run")
def when_cli_infer(target_spec: TargetSpec, sut: RunningTarget, api_token: str, timing: ScenarioTiming,
                   prompt: str) -> CliRun:
    return _cli(target_spec, sut, api_token, timing, "infer", prompt=prompt)


@when(parsers.parse('a user runs the hive CLI to download model "{repo}"'), target_fixture="cli_run")
def when_cli_download(target_spec: TargetSpec, sut: RunningTarget, api_token: str, timing: ScenarioTiming,
                      repo: str) -> CliRun:
    return _cli(target_spec, sut, api_token, timing, "download", model_ref=model_ref(repo))


@when("the hive is stopped")
def when_hive_stopped(sut: RunningTarget) -> None:
    sut.stop()


@then(parsers.re(r'the CLI exited (?P<code>\d+)(?: and printed "(?P<text>[^"]+)" on stderr)?$'),
      converters={"code": int})
def then_cli_exit(cli_run: CliRun, code: int, text: str | None) -> None:
    assert cli_run.exit_code == code, f"the CLI exited {cli_run.exit_code}, expected {code}: {cli_run.describe()}"
    assert text is None or text in cli_run.stderr, f"{text} not on stderr: {cli_run.describe()}"


@then("the CLI's output does not contain the token")
def then_cli_no_token(cli_run: CliRun, api_token: str) -> None:
    assert api_token not in cli_run.stdout + cli_run.stderr, cli_run.describe()
