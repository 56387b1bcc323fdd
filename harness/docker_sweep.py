"""At the end of a run, remove the containers its docker targets left, found by this run's label.

Each container is removed when its scenario ends; this sweep catches what an interrupted worker
could not remove. Only containers labelled with this run's id are touched, never anyone else's.
"""

from __future__ import annotations

import pytest

from harness.errors import TargetStartError
from harness.plugin import TARGETS_KEY
from harness.targets.docker import RUN_LABEL, remove_run_containers, run_id


def pytest_configure(config: pytest.Config) -> None:
    run_id()  # fixed here, before xdist starts its workers: they inherit it through the environment


@pytest.hookimpl(trylast=True)  # after xdist has stopped its workers
def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):
        return  # the controller sweeps once every worker has finished
    targets = session.config.stash.get(TARGETS_KEY, {})
    if not any(spec.kind == "docker" for specs in targets.values() for spec in specs):
        return
    try:
        removed = remove_run_containers(run_id())
    except TargetStartError as exc:
        removed, problem = [], str(exc)
    else:
        problem = ""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and (removed or problem):
        reporter.write_line(f"faultline: docker sweep ({RUN_LABEL}={run_id()}): "
                            + (f"removed leftover container(s) {', '.join(removed)}" if removed else problem),
                            yellow=True)
