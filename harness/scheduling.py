"""Hands a run's scenarios to the xdist workers so that the run ends with its longest scenario.

The plugin orders the scenarios longest first (harness/durations.py). xdist's own load scheduling
then defeats that order: it starts each worker on a run of consecutive items, so at time scale 1
the three longest scenarios queued on one worker and the run took three times its longest one.
And a worker always holds the item after the one it runs (it needs it before it can finish the
one it runs), so whatever is queued behind a long scenario waits for it. Here each worker holds
its running scenario and two queued ones, so that it never waits for the controller's next
message between two scenarios; whenever one of the three it holds is a long one (taken from the
front of the order), it is topped up with the shortest left, otherwise with the longest left.
So a long scenario never waits behind another, and short ones fill the gaps.

Only a run made of scenarios is scheduled so (the project's own tests keep xdist's scheduling),
and only with `--dist load`, the default of `-n`.
"""

from __future__ import annotations

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScheduling
from xdist.workermanage import WorkerController

STEPS_DIR = "steps"   # where the scenarios' test modules are, relative to the rootdir (the project root)
HELD = 3              # items a worker holds: the one it runs and two queued


class LongestFirstScheduling(LoadScheduling):
    # LoadScheduling's state, as it keeps it (xdist has no type information)
    collection: list[str] | None
    pending: list[int]
    node2pending: dict[WorkerController, list[int]]
    node2collection: dict[WorkerController, list[str]]

    def __init__(self, config: pytest.Config, log: Producer | None = None) -> None:
        super().__init__(config, log)
        self._long: set[int] = set()   # the items taken from the front of the order
        self._ordered = False   # whether this run is scheduled longest first (else as xdist does)

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:   # a worker joined later: base fills every worker's queue
            super().schedule()
            return
        collection = next(iter(self.node2collection.values()))
        if len(collection) < 2 * len(self.nodes) or not _all_scenarios(collection):
            super().schedule()   # one item each, or not a scenario run: nothing to order
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = collection
        self.pending[:] = range(len(collection))
        self._ordered = True
        for node in self.nodes:   # one long scenario each first, however few there are
            self._send_one(node, longest=True)
        for node in self.nodes:
            self.check_schedule(node)

    def check_schedule(self, node: WorkerController, duration: float = 0) -> None:
        if not self._ordered:
            super().check_schedule(node, duration)
            return
        if node.shutting_down:
            return
        while len(self.node2pending[node]) < HELD and self.pending:
            self._send_one(node, longest=self._long.isdisjoint(self.node2pending[node]))
        if not self.pending:
            node.shutdown()

    def _send_one(self, node: WorkerController, longest: bool) -> None:
        index = self.pending.pop(0 if longest else -1)
        self.node2pending[node].append(index)
        if longest:
            self._long.add(index)
        node.send_runtest_some([index])


def _all_scenarios(collection: list[str]) -> bool:
    return all(nodeid.startswith(f"{STEPS_DIR}/") for nodeid in collection)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> LoadScheduling | None:
    return LongestFirstScheduling(config, log) if config.getvalue("dist") == "load" else None
