"""The longest-first scheduler, driven through xdist's scheduling protocol by simulated workers.

A simulated worker behaves as xdist's does: it runs an item only while it holds the next one too
(or has been told to shut down), and reports each finished item to the scheduler, which then
tops it up. Durations are what the plugin's ordering promises: the collection comes longest first.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from xdist.scheduler import LoadScheduling

from harness.scheduling import LongestFirstScheduling


@dataclass
class FakeConfig:
    workers: int

    def getvalue(self, name: str) -> object:
        return {"tx": [f"{self.workers}*popen"], "dist": "load"}[name]

    def getoption(self, name: str) -> object:
        return {"maxschedchunk": None}[name]


@dataclass(eq=False)
class FakeWorker:
    number: int
    queue: list[int] = field(default_factory=list)
    shutting_down: bool = False
    running: int | None = None

    @property
    def gateway(self) -> SimpleNamespace:   # what xdist names a worker by in its messages
        return SimpleNamespace(id=f"gw{self.number}")

    def send_runtest_some(self, indices: list[int]) -> None:
        assert not self.shutting_down, "an item sent after shutdown"
        self.queue.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


def simulate(scheduler_class: type[LoadScheduling], nodeids: list[str], durations: list[float],
             workers: int, latency: float = 0.0) -> tuple[float, list[int]]:
    """(makespan, the order items started in) of a run of these items on simulated xdist workers,
    whose reports reach the scheduler `latency` seconds after an item ends."""
    scheduler = scheduler_class(FakeConfig(workers))  # type: ignore[arg-type]
    nodes = [FakeWorker(n) for n in range(workers)]
    for node in nodes:
        scheduler.add_node(node)  # type: ignore[arg-type]
    for node in nodes:
        scheduler.add_node_collection(node, nodeids)  # type: ignore[arg-type]
    scheduler.schedule()
    now, started, running = 0.0, [], []

    def start_what_can_start() -> None:
        for node in nodes:
            if node.running is None and node.queue and (len(node.queue) >= 2 or node.shutting_down):
                node.running = node.queue.pop(0)
                started.append(node.running)
                heapq.heappush(running, (now + durations[node.running], node.number, -1))

    start_what_can_start()
    while running:
        now, number, done = heapq.heappop(running)
        node = nodes[number]
        if done < 0:   # an item ended: the worker goes on if it can, its report is under way
            done, node.running = node.running, None
            heapq.heappush(running, (now + latency, number, done))
        else:          # the report arrives
            scheduler.mark_test_complete(node, done, durations[done])  # type: ignore[arg-type]
        start_what_can_start()
    assert sorted(started) == list(range(len(nodeids))), "every item runs exactly once"
    assert all(node.shutting_down for node in nodes)
    return now, started


def real_time_run() -> tuple[list[str], list[float]]:
    """A scale-1 run's shape: a few scenarios of about two minutes, some of a minute, many short."""
    durations = sorted([135.0, 133.0, 130.0, 120.0, 95.0, 90.0] + [60.0] * 8 + [30.0] * 20 + [3.0] * 190,
                       reverse=True)
    return [f"steps/test_gateway.py::test_{i}" for i in range(len(durations))], durations


def test_a_real_time_run_ends_with_its_longest_scenario() -> None:
    nodeids, durations = real_time_run()
    makespan, _ = simulate(LongestFirstScheduling, nodeids, durations, workers=16)
    floor = max(durations[0], sum(durations) / 16)   # no schedule ends sooner
    assert makespan <= 1.1 * floor, f"took {makespan:.0f} s, longest scenario {durations[0]:.0f} s, floor {floor:.0f} s"


def test_xdists_own_scheduling_queues_the_longest_scenarios_on_one_worker() -> None:
    """What the scheduler is for: the same run under xdist's load scheduling takes far longer."""
    nodeids, durations = real_time_run()
    ours, _ = simulate(LongestFirstScheduling, nodeids, durations, workers=16)
    theirs, _ = simulate(LoadScheduling, nodeids, durations, workers=16)
    assert theirs >= 2 * durations[0] > ours, (theirs, ours)


def test_each_worker_starts_on_a_long_scenario_with_short_ones_behind_it() -> None:
    nodeids, durations = real_time_run()
    _, started = simulate(LongestFirstScheduling, nodeids, durations, workers=4)
    assert started[:4] == [0, 1, 2, 3], "the four longest start first, one per worker"


def test_two_workers_share_a_scaled_run_evenly_and_never_wait_for_the_controller() -> None:
    durations = sorted([12.0, 8.0, 5.5, 5.0] + [4.0] * 12 + [1.5] * 60 + [0.5] * 140, reverse=True)
    nodeids = [f"steps/test_hive.py::test_{i}" for i in range(len(durations))]
    makespan, _ = simulate(LongestFirstScheduling, nodeids, durations, workers=2, latency=0.1)
    assert makespan <= sum(durations) / 2 + durations[0] / 2


def test_fewer_scenarios_than_places_still_go_one_long_one_per_worker() -> None:
    durations = [50.0] * 16 + [1.0] * 4
    nodeids = [f"steps/test_hive.py::test_{i}" for i in range(len(durations))]
    makespan, _ = simulate(LongestFirstScheduling, nodeids, durations, workers=16)
    assert makespan <= 52


@pytest.mark.parametrize("nodeids", [
    [f"tests/test_cli.py::test_{i}" for i in range(40)],        # the project's own tests
    [f"steps/test_gateway.py::test_{i}" for i in range(5)],     # fewer items than two per worker
])
def test_runs_it_does_not_order_get_xdists_scheduling(nodeids: list[str]) -> None:
    durations = [1.0] * len(nodeids)
    assert simulate(LongestFirstScheduling, nodeids, durations, workers=4)[1] == \
        simulate(LoadScheduling, nodeids, durations, workers=4)[1]
