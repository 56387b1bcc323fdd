"""The pytest plugin: options, strict clause tags, target selection, per-scenario history, verdicts
(collected by harness.report.recorder)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from pytest_bdd.parser import Step
from pytest_bdd.scenario import scenario_wrapper_template_registry

from catalogue import PROFILES, Catalogue, CatalogueFileError, catalogue
from harness.calibration import ToleranceMonitor
from harness.checks import current_log
from harness.coverage import case_key, scenario_cases
from harness.durations import SCALE_PROPERTY, ExpectedDurations
from harness.errors import TargetFileError
from harness.history import History
from harness.patience import CALL_BOUND, patience
from harness.judgement import why_not_applicable
from harness.portal import BackgroundLoop
from harness.quiet import wait_for_quiet
from harness.stop_signals import install_stop_handlers
from harness.report.evidence import HISTORY_KEY, Evidence, history_text
from harness.report.recorder import VerdictRecorder
from harness.targets.spec import TargetSpec, load_target_file
from harness.timing import TOLERANCE_PROPERTY, Clock, Resolution, ScenarioTiming, choose_scale, resolutions_of
from harness.traceability import (COARSE_TIMING, FEATURE_TAG_PREFIX, FRESH_INSTANCE, ScenarioInfo,
                                  async_step_definitions, registered_markers, scenario_info, scenario_step_texts,
                                  tag_problems)
from harness.verdict import RunStatus, VerdictCollector

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TARGETS = {profile: PROJECT_ROOT / "targets" / f"reference-{profile}.toml" for profile in PROFILES}
CATALOGUE_KEY = pytest.StashKey[Catalogue]()
TARGETS_KEY = pytest.StashKey[dict[str, list[TargetSpec]]]()
RESOLUTIONS_KEY = pytest.StashKey[list[Resolution]]()
CHOSEN_SCALE_KEY = pytest.StashKey["ChosenScale"]()   # the scale the timing fixture chose
RERUN_SCALE_KEY = pytest.StashKey[float]()    # the least scale a second run must choose (harness.rerun)
RERUN_PROPERTY = "rerun"                      # why a scenario's result is its second run's (harness.rerun)


@dataclass(frozen=True)
class ChosenScale:
    scale: float
    ceiling: float   # the most it could be: real time, or the scale itself where it is fixed (url target, @slow)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("faultline", "Faultline conformance")
    group.addoption("--target", action="append", default=[], metavar="FILE",
                    help="target file (TOML) of an implementation under test; repeatable. "
                         "Default: the embedded reference of each selected profile.")
    group.addoption("--profile", action="append", default=[], choices=PROFILES,
                    help="run only this profile's scenarios; repeatable")
    group.addoption("--slow", action="store_true", default=False,
                    help="also run @slow scenarios, at time scale 1")
    group.addoption("--time-factor", type=float, default=1.0,
                    help="multiply every target's time scales by this (bench/suite fits waits with it); "
                         "@slow scenarios stay at 1")
    group.addoption("--feature-file", action="append", default=[], metavar="FILE",
                    help="run only the scenarios of this feature file; repeatable")
    group.addoption("--clause", action="append", default=[], metavar="ID",
                    help="run only the scenarios tagged with this clause (e.g. GW-RETRY-004); repeatable")
    group.addoption("--reports-dir", default=str(PROJECT_ROOT / "reports"),
                    help="where histories and verdicts are written (default: reports/)")


def pytest_configure(config: pytest.Config) -> None:
    install_stop_handlers()
    if not config.getoption("time_factor") > 0:
        raise pytest.UsageError(f"--time-factor must be above 0, got {config.getoption('time_factor')}")
    try:
        known = catalogue()
    except CatalogueFileError as exc:
        raise pytest.UsageError(f"clause catalogue: {exc}") from None
    config.stash[CATALOGUE_KEY] = known
    unknown = sorted(set(config.getoption("clause")) - set(known.clauses))
    if unknown:
        raise pytest.UsageError(f"--clause {', '.join(unknown)}: not a clause of the catalogue (`faultline clauses` "
                                f"lists them)")
    missing = [f for f in config.getoption("feature_file") if not Path(f).is_file()]
    if missing:
        raise pytest.UsageError(f"--feature-file {', '.join(missing)}: no such feature file (they are under "
                                f"{PROJECT_ROOT / 'features'})")
    for name, text in registered_markers(known).items():
        config.addinivalue_line("markers", f"{name}: {text}")
    targets = _selected_targets(config)
    running = [s.name for group in targets.values() for s in group if s.url is not None]
    if running and config.getoption("time_factor") != 1:
        raise pytest.UsageError(f"--time-factor cannot change the time scale of url target(s) {', '.join(running)}: "
                                f"a running service keeps the scale it was started with")
    config.stash[TARGETS_KEY] = targets
    if hasattr(config, "workerinput"):
        return  # verdicts are judged where reports arrive: the controller, or the only process
    collector = VerdictCollector(known, {spec.name: spec for specs in targets.values() for spec in specs},
                                 scenario_cases(_features_dir(config), known, config.rootpath),
                                 status=RunStatus(slow=config.getoption("slow")))
    config.pluginmanager.register(VerdictRecorder(collector), "faultline-verdicts")


def _features_dir(config: pytest.Config) -> Path:
    """Where pytest-bdd finds the feature files: bdd_features_base_dir, relative to the rootdir."""
    configured = config.getini("bdd_features_base_dir")
    return config.rootpath / configured if configured else PROJECT_ROOT / "features"


def _selected_targets(config: pytest.Config) -> dict[str, list[TargetSpec]]:
    profiles = config.getoption("profile") or list(PROFILES)
    files = config.getoption("target")
    try:
        specs = [load_target_file(f) for f in files] if files else \
            [load_target_file(DEFAULT_TARGETS[p]) for p in profiles]
    except TargetFileError as exc:
        raise pytest.UsageError(str(exc)) from None
    selected: dict[str, list[TargetSpec]] = {}
    for spec in specs:
        if spec.profile in profiles:
            selected.setdefault(spec.profile, []).append(spec)
    names = [s.name for group in selected.values() for s in group]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise pytest.UsageError(f"two target files share the name {sorted(duplicates)}; names must be unique")
    return selected


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    for profile, specs in config.stash[TARGETS_KEY].items():
        for spec in specs:
            lines.append(f"faultline {profile} target: {spec.name} ({spec.kind}, version {spec.version}, "
                         f"time scale {spec.time_scale:g}) from {spec.path}")
    return lines


@pytest.hookimpl(tryfirst=True)
def pytest_bdd_apply_tag(tag: str, function: object) -> bool:
    config = _current_config()
    if tag not in registered_markers(config.stash[CATALOGUE_KEY]):
        raise pytest.UsageError(
            f"unknown tag @{tag}: not a clause of the catalogue (catalogue/clauses.yaml), a profile, "
            f"'slow' or 'feature-<optional feature>'")
    getattr(pytest.mark, tag)(function)
    return True


def _current_config() -> pytest.Config:
    from pytest_bdd.utils import CONFIG_STACK  # pytest-bdd keeps the running config here

    return CONFIG_STACK[-1]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    info = scenario_info(metafunc.function, metafunc.config.stash[CATALOGUE_KEY])
    if info is None or info.profile is None:
        return
    specs = metafunc.config.stash[TARGETS_KEY].get(info.profile)
    if not specs:
        return
    if "target_spec" not in metafunc.fixturenames:
        metafunc.fixturenames.append("target_spec")
    metafunc.parametrize("target_spec", specs, ids=[s.name for s in specs])


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    problems = list(async_step_definitions())
    known = config.stash[CATALOGUE_KEY]
    keep, drop = [], []
    for item in items:
        info = scenario_info(getattr(item, "obj", None), known)
        if info is None:
            keep.append(item)
            continue
        problems += tag_problems(info)
        spec = _spec_of(item)
        if spec is None:
            drop.append(item)
            continue
        _apply_target_rules(item, info, spec, known, config)
        (keep if _selected(item, info, config) else drop).append(item)
    if problems:
        raise pytest.UsageError("traceability check failed:\n  " + "\n  ".join(dict.fromkeys(problems)))
    if drop:
        config.hook.pytest_deselected(items=drop)
    # Longest first, so that many workers end together rather than waiting on a long straggler.
    expected = ExpectedDurations.read(Path(config.getoption("reports_dir")))
    items[:] = sorted(keep, key=lambda item: -expected.estimate(item) * _base_scale(item, config))


def _base_scale(item: pytest.Item, config: pytest.Config) -> float:
    """The scale a scenario runs at before any raise for its checks: what its waits scale with."""
    spec = _spec_of(item)
    if spec is None:
        return 1.0
    if spec.url is not None or item.get_closest_marker("slow"):
        return spec.time_scale if spec.url is not None else 1.0
    base = spec.coarse_time_scale if item.get_closest_marker(COARSE_TIMING) else spec.time_scale
    factor: float = config.getoption("time_factor")
    return min(1.0, base * factor)


def _selected(item: pytest.Item, info: ScenarioInfo, config: pytest.Config) -> bool:
    """Whether --feature and --clause keep this scenario (without them, every scenario is kept)."""
    features = {Path(f).resolve() for f in config.getoption("feature_file")}
    clauses = set(config.getoption("clause"))
    if features:
        template = scenario_wrapper_template_registry[cast(pytest.Function, item).obj]
        if Path(template.feature.filename).resolve() not in features:
            return False
    return not clauses or bool(clauses & {c.id for c in info.clauses})


def _spec_of(item: pytest.Item) -> TargetSpec | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("target_spec") if callspec else None


def _apply_target_rules(item: pytest.Item, info: ScenarioInfo, spec: TargetSpec, known: Catalogue,
                        config: pytest.Config) -> None:
    clause_ids = [c.id for c in info.clauses]
    example = getattr(item, "callspec", None) and item.callspec.params.get("_pytest_bdd_example")  # type: ignore[attr-defined]
    item.stash[RESOLUTIONS_KEY] = resolutions_of(scenario_step_texts(getattr(item, "obj", None), example))
    item.user_properties += [("clauses", ",".join(clause_ids)), ("target", spec.name),
                             ("profile", spec.profile), ("scenario", _case_key(item, config))]
    marks = {m.name for m in item.iter_markers()}   # Examples-level tags arrive as marks
    row_tags = {m.removeprefix(FEATURE_TAG_PREFIX) for m in marks if m.startswith(FEATURE_TAG_PREFIX)}
    not_applicable = why_not_applicable(spec.name, spec.features, info.optional_features(known) | row_tags,
                                        "slow" in info.tags or "slow" in marks, config.getoption("slow"))
    if not_applicable is not None:
        item.add_marker(pytest.mark.skip(reason=not_applicable))
    elif "slow" in info.tags and spec.url is not None and spec.time_scale != 1:
        item.add_marker(pytest.mark.skip(reason=f"@slow scenario runs at time scale 1, and {spec.name} keeps "
                                                f"running at {spec.time_scale:g}"))
    elif FRESH_INSTANCE in info.tags and spec.url is not None and spec.url.reset is None:
        item.add_marker(pytest.mark.skip(
            reason=f"@fresh-instance scenario: {spec.name} keeps running between scenarios and its target file "
                   f"declares no [url] reset request to put it back to its start state"))
    expected = sorted(set(clause_ids) & spec.expected_failures)
    if expected:
        item.add_marker(pytest.mark.xfail(
            strict=True, reason=f"target {spec.name} lists {', '.join(expected)} as expected failures"))


def _case_key(item: pytest.Item, config: pytest.Config) -> str:
    """The key of the scenario case this item runs, as `harness.coverage` computes it from the parse."""
    template = scenario_wrapper_template_registry[cast(pytest.Function, item).obj]
    callspec = getattr(item, "callspec", None)
    example = callspec.params.get("_pytest_bdd_example") if callspec else None
    return case_key(template.feature.filename, config.rootpath, template.line_number, example)


@pytest.fixture(scope="session")
def background_loop() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as loop:
        yield loop


@pytest.fixture
def history(request: pytest.FixtureRequest, evidence: Evidence) -> Iterator[History]:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
    recorded = History(Path(request.config.getoption("reports_dir")) / "history" / f"{safe}.jsonl")
    request.node.stash[HISTORY_KEY] = recorded
    evidence.register("scenario history", lambda: history_text(recorded))
    yield recorded
    recorded.close()


@pytest.fixture(scope="session")
def tolerance_monitor(background_loop: BackgroundLoop) -> Iterator[ToleranceMonitor]:
    """Measures the timing tolerance for as long as this worker runs, the event loop the fakes
    stamp arrivals on included; checks read it when they judge."""
    with ToleranceMonitor() as monitor:
        probe = background_loop.portal.start_task_soon(monitor.loop.run)
        try:
            yield monitor
        finally:
            probe.cancel()


@pytest.fixture
def timing(request: pytest.FixtureRequest, target_spec: TargetSpec,
           tolerance_monitor: ToleranceMonitor) -> Iterator[ScenarioTiming]:
    """This scenario's time scale and the clock each of its timed checks judges with.

    The scale is 1 for @slow scenarios; otherwise the target's (its coarse scale for scenarios
    that sit through whole retry cycles, cooldowns and timeouts), raised where the finest timed
    check among the scenario's steps could not decide at the tolerance measured now (or to the
    scale a check of its first run asked for: harness.rerun). A running (url) target keeps the
    scale it was started with, so there a check may turn out undecidable. A second run first
    waits, for a bounded time, for a machine quiet enough for its checks (harness.quiet).
    The harness's clients wait for an answer as long as the clauses allow one call at that scale."""
    node = request.node

    def used(tolerance: float) -> None:
        node.user_properties.append((TOLERANCE_PROPERTY, f"{tolerance:.6f}"))
        log = current_log()
        if log is not None:   # the check being run judges with it
            log.tolerance = tolerance

    resolutions = node.stash.get(RESOLUTIONS_KEY, [])
    if target_spec.url is not None:
        scale = ceiling = target_spec.time_scale
    elif node.get_closest_marker("slow"):
        scale = ceiling = 1.0
    else:
        factor: float = request.config.getoption("time_factor")
        base = target_spec.coarse_time_scale if node.get_closest_marker(COARSE_TIMING) else target_spec.time_scale
        scale = choose_scale(min(1.0, base * factor), resolutions, tolerance_monitor.expected().tolerance)
        scale, ceiling = max(scale, node.stash.get(RERUN_SCALE_KEY, 0.0)), 1.0
    node.stash[CHOSEN_SCALE_KEY] = ChosenScale(scale, ceiling)
    if RERUN_SCALE_KEY in node.stash:
        quiet = wait_for_quiet(lambda: tolerance_monitor.expected().tolerance, scale, resolutions).describe()
        node.user_properties[:] = [(k, f"{v}; {quiet}" if k == RERUN_PROPERTY else v) for k, v in node.user_properties]
    node.user_properties.append((SCALE_PROPERTY, f"{scale:.6f}"))
    span = node.stash[JUDGED_SPAN_KEY] = JudgedSpan(time.monotonic())
    scenario = ScenarioTiming(scale, lambda: tolerance_monitor.current(since=span.start).tolerance, used,
                              lambda spans: tolerance_monitor.over(spans).tolerance)
    waits = Clock(scale, tolerance_monitor.current().tolerance).patience(CALL_BOUND)   # not a check's clock
    with patience(waits, f"the clauses bound one call by {CALL_BOUND:g} spec s, {CALL_BOUND * scale:.3g} s at time "
                         f"scale {scale:g}, and the harness waits {waits:.3g} s"):
        yield scenario


class JudgedSpan:
    """Since when a scenario's checks judge what happened: from its first When step on. The set-up
    before it (starting the target, its fakes and proxies, which stalls a worker most) stamps
    nothing a check compares, so the event loop's stalls there widen no window."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.acting = False

    def actions_begin(self) -> None:
        if not self.acting:
            self.start, self.acting = time.monotonic(), True


JUDGED_SPAN_KEY = pytest.StashKey[JudgedSpan]()


def pytest_bdd_before_step(request: pytest.FixtureRequest, step: Step) -> None:
    span = request.node.stash.get(JUDGED_SPAN_KEY, None)
    if span is not None and step.type == "when":
        span.actions_begin()


@pytest.fixture
def time_scale(timing: ScenarioTiming) -> float:
    """Spec seconds to real seconds for this scenario (see `timing`)."""
    return timing.scale


@pytest.fixture
def api_token() -> str:
    return "fl-" + secrets.token_urlsafe(18)
