"""Hive profile scenarios (features/hive) and their hive-only phrases."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from functools import partial
from typing import Any

import httpx
import pytest
from pytest_bdd import given, parsers, scenarios, when

from fault_injection.gpu.journal import JournalEntry, exits, of_kind, workers_started
from fault_injection.plugin import ScenarioNetwork
from harness.background import InFlight, in_background
from harness.chat import bearer, error_details
from harness.cli_runs import CliRun, cli_argv, run_cli
from harness.errors import TargetStartError, WaitTimeout
from harness.exchange import Exchange, send
from harness.hang_up import send_and_hold
from harness.history import History
from harness.portal import BackgroundLoop
from harness.report.evidence import Evidence
from harness.report.recording import deadline_check, record_check, record_cooldown, window_check
from harness.breaker_probes import last_answer, Probe
from harness.resolutions import BREAKER_COOLDOWN, CLEANUP, UPSTREAM_TIMEOUT
from harness.probes import listening_ports, processes_with_argument, temp_dir_contents
from harness.rigs.hive import HiveRig, model_ref
from harness.spec_values import HIVE_RETRY_CYCLE, TIMEOUTS
from harness.streaming import StreamExchange, stream_chat
from harness.targets import RunningTarget, TargetContext, TargetSpec, make_target
from harness.timing import ScenarioTiming
from harness.wait import wait_out_cooldown, wait_until
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
        live = {str(w.get("id", w.get("worker_id"))) for w in listed.get("workers", [])
                if w.get("exit_code") is None and w.get("state") not in ("exited", "stopped", "failed")}
        gone = [s for s in starts if str(s.worker_id) not in live]
        ids = {str(s.worker_id) for s in gone}
        ports = {int(s.get("port")) for s in gone if s.get("port") is not None}
        wait_until(lambda: not any(processes_with_argument("--worker-id", i) for i in ids)
                   and not listening_ports(ports),
                   timeout=timing.clock().deadline(TIMEOUTS.cleanup),
                   what=f"workers the hive no longer lists ({sorted(ids)}) to be gone with their ports")

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


# -- workers ---------------------------------------------------------------------------------

@pytest.fixture
def spawned() -> list[dict[str, Any]]:
    """Workers the scenario's Givens spawned through the hive's API, newest last."""
    return []


def _spawn(sut: RunningTarget, token: str, repo: str, backend: str, device: int) -> Exchange:
    return send("POST", sut.base_url + "/v1/workers/spawn", headers=bearer(token),
                json_body={"model_ref": model_ref(repo), "backend": backend, "device": device})


@given(parsers.re(r'(?:a|another) worker for model "(?P<repo>[^"]+)" is running on GPU (?P<device>\d+)$'),
       converters={"device": int})
def given_worker_running(sut: RunningTarget, api_token: str, spawned: list[dict[str, Any]], repo: str,
                         device: int) -> None:
    exchange = _spawn(sut, api_token, repo, "cuda", device)
    assert exchange.status == 200, f"could not spawn the scenario's worker: {exchange.describe()}"
    spawned.append(exchange.json())


@when(parsers.parse('a client spawns a worker for model "{repo}" on {backend} device {device:d}'),
      target_fixture="exchange")
def when_spawn(sut: RunningTarget, api_token: str, repo: str, backend: str, device: int) -> Exchange:
    return _spawn(sut, api_token, repo, backend, device)


@when("a client stops that worker", target_fixture="exchange")
def when_stop_worker(sut: RunningTarget, api_token: str, spawned: list[dict[str, Any]]) -> Exchange:
    return send("POST", sut.base_url + "/v1/workers/stop", headers=bearer(api_token),
                json_body={"worker_id": spawned[-1]["worker_id"]})


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
    assert start_failure.exit_code == code, f"exit code {start_failure.exit_code}: {start_failure}"
    assert error in start_failure.log_tail, f"{error} not in its output:\n{start_failure.log_tail}"


@then(parsers.parse("the error details say device is {device:d}"))
def then_details_device(exchange: Exchange, device: int) -> None:
    assert error_details(exchange).get("device") == device, exchange.describe()


@then(parsers.parse("the VRAM details say {required:d} MiB required and {available:d} MiB available "
                    "on device {device:d}"))
def then_vram_details(exchange: Exchange, required: int, available: int, device: int) -> None:
    details = error_details(exchange)
    observed = (details.get("required_vram_mib"), details.get("available_vram_mib"), details.get("device"))
    assert observed == (required, available, device), details


@then(parsers.parse('the alternative models fit in {available:d} MiB and include "{repo}"'))
def then_alternatives(exchange: Exchange, hive_rig: HiveRig, available: int, repo: str) -> None:
    offered = hive_rig.hub.fake.models
    alternatives = [str(a).removeprefix("hf:") for a in error_details(exchange).get("alternative_models") or []]
    assert repo in alternatives, alternatives
    too_big = [a for a in alternatives if a in offered and offered[a].required_vram_mib > available]
    assert not too_big, f"alternatives that do not fit: {too_big}"


@then("the stop response reports the exit code the worker journaled")
def then_stop_code_journaled(exchange: Exchange, hive_rig: HiveRig) -> None:
    body = exchange.json()
    journaled = exits(hive_rig.gpu.journal(), body["worker_id"])
    assert journaled and body.get("exit_code") == journaled[-1], f"hive says {body}, journal says {journaled}"


@then(parsers.parse("the stop response reports exit code {code:d}"))
def then_stop_code(exchange: Exchange, code: int) -> None:
    assert exchange.status == 200 and exchange.json().get("exit_code") == code, exchange.describe()


@timed_then(parsers.parse("the stop took less than the cleanup timeout"), CLEANUP)
def then_stop_quick(exchange: Exchange, timing: ScenarioTiming, history: History) -> None:
    clock = timing.clock()
    limit = clock.deadline(TIMEOUTS.cleanup)
    record_check(history, window_check("stop within the cleanup timeout", "stop response", exchange.elapsed, 0.0, limit,
                                       note=clock.note()))
    assert exchange.elapsed <= limit, f"stop took {exchange.elapsed:.3f}s, allowed {limit:.3f}s"
    decided(clock, CLEANUP)


@timed_then(parsers.parse("that worker's process is gone and its port is free"), CLEANUP)
def then_worker_gone(spawned: list[dict[str, Any]], hive_rig: HiveRig, timing: ScenarioTiming) -> None:
    clock = timing.clock()
    worker_id = spawned[-1]["worker_id"]
    ports = {int(s.get("port")) for s in workers_started(hive_rig.gpu.journal()) if s.worker_id == worker_id}
    wait_until(lambda: not processes_with_argument("--worker-id", worker_id) and not listening_ports(ports),
               timeout=clock.deadline(TIMEOUTS.cleanup), what=f"worker {worker_id} to be gone and its port free")
    decided(clock, CLEANUP)


@timed_then(parsers.parse("the worker list reports that worker's exit code as the worker journaled it"), CLEANUP)
def then_list_exit_code(sut: RunningTarget, api_token: str, spawned: list[dict[str, Any]], hive_rig: HiveRig,
                        timing: ScenarioTiming) -> None:
    clock = timing.clock()
    worker_id = spawned[-1]["worker_id"]

    def reported() -> Any:
        listed = send("GET", sut.base_url + "/v1/workers/list", headers=bearer(api_token)).json()
        return next((w.get("exit_code") for w in listed.get("workers", [])
                     if w.get("id", w.get("worker_id")) == worker_id and w.get("exit_code") is not None), None)

    code = wait_until(lambda: reported() is not None and [reported()], timeout=clock.deadline(TIMEOUTS.cleanup),
                      what=f"the hive to report how worker {worker_id} ended")[0]
    journaled = exits(hive_rig.gpu.journal(), worker_id)
    assert journaled and code == journaled[-1], f"hive says {code}, journal says {journaled}"
    decided(clock, CLEANUP)


@timed_then(parsers.parse("the hive exits with code {code:d} within the cleanup timeout"), CLEANUP)
def then_hive_exits(sut: RunningTarget, code: int, timing: ScenarioTiming, history: History) -> None:
    observed = assert_exits_within_cleanup(sut, timing.clock(), history, "hive exit within the cleanup timeout")
    assert observed == code, f"the hive exited with {observed}:\n{sut.log_tail()}"


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
    assert check.passed, check.detail
    decided(clock, CLEANUP)


@then(parsers.parse('the stream carried tokens and ended with exactly one terminal event, "{kind}"'))
def then_tokens_and_terminal(stream_exchange: StreamExchange, kind: str) -> None:
    assert stream_exchange.content_pieces, stream_exchange.describe()
    then_one_terminal(stream_exchange, kind)


@then(parsers.parse('the stream carried exactly one terminal event, "{kind}"'))
def then_one_terminal(stream_exchange: StreamExchange, kind: str) -> None:
    assert stream_exchange.terminal_events == [kind], stream_exchange.terminal_events
    after = stream_exchange.events[[e.data for e in stream_exchange.events].index(
        next(e.data for e in stream_exchange.events if f'"type":"{kind}"' in e.data.replace(" ", ""))) + 1:]
    assert all('"token"' not in e.data for e in after), "a token followed the terminal event"


@then(parsers.re(r"the worker journal shows (?P<count>\d+) inferences? started$"), converters={"count": int})
def then_inferences_started(hive_rig: HiveRig, count: int) -> None:
    started = of_kind(hive_rig.gpu.journal(), "inference_started")
    assert len(started) == count, f"{len(started)} inference(s) reached a worker, expected {count}"


@then(parsers.parse("the error details carry a non-empty {key}"))
def then_details_non_empty(exchange: Exchange, key: str) -> None:
    assert error_details(exchange).get(key), exchange.describe()


@timed_then(parsers.parse("the hive gave up on the worker at the inference timeout"), UPSTREAM_TIMEOUT)
def then_hive_gave_up_at_timeout(hive_rig: HiveRig, timing: ScenarioTiming, history: History) -> None:
    """Measured where the hive acts, from the worker's journal: from the inference reaching the
    worker to the hive dropping its connection or signalling the worker, whichever came first."""
    clock = timing.clock()
    journal = hive_rig.gpu.journal()
    started = of_kind(journal, "inference_started")
    assert started, "no inference reached a worker"
    begun = started[0].mono
    ends = [e.mono for e in journal if e.kind in ("client_disconnected", "signal", "exit") and e.mono >= begun]
    assert ends, f"the hive never let go of the hung worker: {[e.kind for e in journal]}"
    waited = min(ends) - begun
    window = clock.window(TIMEOUTS.upstream, TIMEOUTS.upstream)
    record_check(history, window_check("the hive waiting on a hung worker: the inference timeout",
                                       "worker let go", waited, window.low, window.high, note=clock.note()))
    assert window.holds(waited), (f"the hive let go of the hung worker {waited:.3f} s after the inference reached it; "
                                  f"the {TIMEOUTS.upstream:g} s inference timeout allows [{window.low:.3f}, "
                                  f"{window.high:.3f}] s")
    decided(clock, UPSTREAM_TIMEOUT)


@then("both inferences completed")
def then_both_completed(exchanges: list[Exchange]) -> None:
    assert len(exchanges) == 2, [e.describe() for e in exchanges]
    assert all(e.status == 200 and "error" not in e.json() for e in exchanges), [e.describe() for e in exchanges]


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
    assert cli_run.exit_code == code, cli_run.describe()
    assert text is None or text in cli_run.stderr, cli_run.describe()


@then("the CLI's output does not contain the token")
def then_cli_no_token(cli_run: CliRun, api_token: str) -> None:
    assert api_token not in cli_run.stdout + cli_run.stderr, cli_run.describe()
