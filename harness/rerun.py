"""A scenario whose timed checks could not decide runs once more, at the time scale they named
or, where its scale cannot rise, at the same scale on a quieter machine.

A scenario's scale is planned for the tolerance measured before it starts, with a margin; a
machine that gets busier while it runs can still widen its windows past what a check must
resolve, and the check then says it cannot decide and at which scale it would. On a loaded
2-core runner that left a correct hive's backoff clause not verified (49.9 ms judged against about
23 ms planned; it needed scale 0.063, it ran at 0.059). The harness now does what a user would:
it runs the scenario again, once, at that scale with the planning margin (never above real
time), and the second run's result is the scenario's. A scenario whose scale is fixed (a url
target, an @slow scenario) or already real time runs again at that scale, once the machine is
quiet enough for its checks (harness.quiet): at time scale 1 a run starts many scenarios at once.
Only a scenario whose every undecided check names a scale is run again: a failure is never run
again, and nor is a check undecided for another reason (a log it cannot see), which no scale or
quiet decides.
"""

from __future__ import annotations

import pytest
from _pytest.runner import runtestprotocol

from harness.check_plugin import CHECK_LOG_KEY
from harness.checks import NOT_VERIFIED
from harness.plugin import CHOSEN_SCALE_KEY, RERUN_PROPERTY, RERUN_SCALE_KEY, ChosenScale
from harness.timing import SCALE_MARGIN, needed_scale_in, round_up_scale


def scale_to_rerun(ran: ChosenScale, undecided: list[str]) -> float | None:
    """The scale to run again at, given the messages of the undecided checks of a run at
    `ran.scale` that failed nothing, or None when some of them no scale would decide."""
    needed = [needed_scale_in(message) for message in undecided]
    if not needed or any(scale is None for scale in needed):
        return None
    wanted = round_up_scale(max(s for s in needed if s is not None) * SCALE_MARGIN)
    return max(ran.scale, min(ran.ceiling, wanted))


def _rerun_scale(item: pytest.Item, reports: list[pytest.TestReport]) -> float | None:
    ran = item.stash.get(CHOSEN_SCALE_KEY, None)
    log = item.stash.get(CHECK_LOG_KEY, None)
    if ran is None or log is None or RERUN_SCALE_KEY in item.stash:
        return None
    if any(r.failed for r in reports) or not any(r.when == "call" and r.skipped for r in reports):
        return None
    return scale_to_rerun(ran, [r.message for r in log.results if r.outcome == NOT_VERIFIED])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    if "clauses" not in dict(item.user_properties):
        return None                                   # not a scenario: pytest's own protocol
    properties = list(item.user_properties)
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    reports = runtestprotocol(item, nextitem=nextitem, log=False)
    scale = _rerun_scale(item, reports)
    if scale is not None:
        first = item.stash[CHOSEN_SCALE_KEY].scale
        why = "; ".join(r.message for r in item.stash[CHECK_LOG_KEY].results if r.outcome == NOT_VERIFIED)
        item.user_properties[:] = properties + [(RERUN_PROPERTY, f"run again at time scale {scale:g}: at {first:g}, "
                                                                 f"{why}")]
        item.stash[RERUN_SCALE_KEY] = scale
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
