"""Phrases about the fake GPU: the plan a scenario gives it, and what its workers journaled."""

from __future__ import annotations

from pytest_bdd import given, parsers

from fault_injection.gpu.journal import workers_started
from harness.probes import listening_ports, process_remains
from harness.resolutions import CLEANUP
from harness.rigs.hive import HiveRig
from harness.spec_values import TIMEOUTS
from harness.timing import ScenarioTiming
from harness.wait import wait_until
from steps.timed import decided, timed_then
from steps.checked import then

FOREVER = 3600.0 * 24   # spec seconds: longer than any ready timeout a hive is given
RBEE_FLAGS = ("--worker-id", "--model", "--model-ref", "--backend", "--device", "--port", "--callback-url")


@given(parsers.parse("GPU {index:d} fails to initialise"))
def given_init_failure(hive_rig: HiveRig, index: int) -> None:
    hive_rig.gpu.add_fault(index, init_failure=True)


@given(parsers.parse("GPU {index:d} runs out of memory while loading"))
def given_oom_at_load(hive_rig: HiveRig, index: int) -> None:
    hive_rig.gpu.add_fault(index, oom_at_load=True)


@given(parsers.parse("the hive also sees GPU {index:d}"))
def given_extra_gpu(hive_rig: HiveRig, index: int) -> None:
    hive_rig.gpu.add_fault(index)


@given(parsers.parse("GPU {index:d} has {free:d} MiB of free VRAM"))
def given_free_vram(hive_rig: HiveRig, index: int, free: int) -> None:
    hive_rig.gpu.set_free_vram(index, free)


@given(parsers.parse("workers on GPU {index:d} take {seconds:g} seconds to load"))
def given_slow_load(hive_rig: HiveRig, index: int, seconds: float) -> None:
    hive_rig.gpu.add_fault(index, slow_load_seconds=seconds)


@given(parsers.parse("workers on GPU {index:d} never finish loading"))
def given_never_ready(hive_rig: HiveRig, index: int) -> None:
    hive_rig.gpu.add_fault(index, slow_load_seconds=FOREVER)


@given(parsers.parse("workers on GPU {index:d} ignore SIGTERM"))
def given_ignore_sigterm(hive_rig: HiveRig, index: int) -> None:
    hive_rig.gpu.add_fault(index, ignore_sigterm=True)


@given(parsers.re(r"workers on GPU (?P<index>\d+) (?P<fault>crash|hang|run out of memory|fail) "
                  r"after (?P<count>\d+) tokens?$"),
       converters={"index": int, "count": int})
def given_token_fault(hive_rig: HiveRig, index: int, fault: str, count: int) -> None:
    key = {"crash": "crash_after_tokens", "hang": "hang_after_tokens", "run out of memory": "oom_after_tokens",
           "fail": "fail_after_tokens"}[fault]
    hive_rig.gpu.add_fault(index, **{key: count})


@given(parsers.parse("the hive is configured to use GPU {index:d}"))
def given_daemon_device(hive_rig: HiveRig, index: int) -> None:
    hive_rig.gpu.daemon_devices.append(index)


@given("the GPU driver is missing")
def given_driver_missing(hive_rig: HiveRig) -> None:
    hive_rig.gpu.driver_missing = True


@then(parsers.re(r'the worker journal shows (?P<count>\d+) worker starts?, on backend "(?P<backend>\w+)" '
                 r'and device (?P<device>\d+)$'), converters={"count": int, "device": int})
def then_journal_starts(hive_rig: HiveRig, count: int, backend: str, device: int) -> None:
    starts = workers_started(hive_rig.gpu.journal())
    assert len(starts) == count and all((s.backend, s.device) == (backend, device) for s in starts), \
        f"worker starts (backend, device): {[(s.backend, s.device) for s in starts]}, expected {count} on {backend} " \
        f"device {device}"


@then("every worker start carried rbee's flags")
def then_rbee_flags(hive_rig: HiveRig) -> None:
    starts = workers_started(hive_rig.gpu.journal())
    assert starts, "no worker started"
    for start in starts:
        argv = start.get("argv") or []
        missing = [flag for flag in RBEE_FLAGS if flag not in argv and not any(a.startswith(flag + "=") for a in argv)]
        assert not missing, f"worker started without {missing}: {argv}"


@then(parsers.parse('the worker journal shows no worker start on backend "{backend}"'))
def then_no_backend_start(hive_rig: HiveRig, backend: str) -> None:
    starts = workers_started(hive_rig.gpu.journal(), backend=backend)
    assert not starts, f"{len(starts)} worker(s) started on {backend}: {[s.get('argv') for s in starts]}"


@then(parsers.parse("every worker start in the journal used device {device:d}"))
def then_same_device(hive_rig: HiveRig, device: int) -> None:
    devices = [s.device for s in workers_started(hive_rig.gpu.journal())]
    assert all(d == device for d in devices), f"workers started on devices {devices}"


@then(parsers.re(r"the worker journal shows at most (?P<count>\d+) worker starts?$"), converters={"count": int})
def then_at_most_starts(hive_rig: HiveRig, count: int) -> None:
    starts = workers_started(hive_rig.gpu.journal())
    assert len(starts) <= count, f"{len(starts)} worker starts: the failure was retried"


@then("the worker journal shows no worker start")
def then_no_start(hive_rig: HiveRig) -> None:
    starts = workers_started(hive_rig.gpu.journal())
    assert not starts, f"{len(starts)} worker(s) started: {[s.get('argv') for s in starts]}"


@timed_then(parsers.parse("no worker process is left"), CLEANUP)
def then_no_worker_left(hive_rig: HiveRig, timing: ScenarioTiming) -> None:
    """Every process the worker journal says started (by its pid: a zombie nothing reaped is not gone).
    Stopping workers is the cleanup's work (a signal, an exit, a reaping), not a service's whole
    shutdown: where the hive shuts down, its own exit check asks for that scale."""
    clock = timing.clock()
    starts = workers_started(hive_rig.gpu.journal())
    ports = {int(s.get("port")) for s in starts if s.get("port") is not None}

    def left() -> str:
        processes = [f"pid {s.pid} ({s.worker_id}) {state}" for s in starts if (state := process_remains(s.pid, s.t))]
        held = sorted(listening_ports(ports))
        return ", ".join(processes + ([f"ports {held}"] if held else []))

    wait_until(lambda: not left(), timeout=clock.deadline(TIMEOUTS.cleanup),
               what="every worker process to be gone and its port free", describe=left)
    decided(clock, CLEANUP)
