"""How many workers a run gets when the user does not say.

A scaled run (the references at 0.1) gets two workers, at most one per core, though two cores are
then only about 55 % busy: a third worker makes it faster (87-116 s against 123-138 s), but it
stalls the event loops the fakes stamp arrivals on for up to 114 ms, and a check's tolerance
counts those stalls (harness/calibration.py): in 2 of 9 runs on a quiet machine the hive's
breaker scenario, which waits through a whole cooldown, could then not decide its "at once"
checks (81.6 and 113.9 ms against the 0.11 and 0.22 scales planned), a clause not verified.
Before the event loop was measured, beside a busy program the same happened to a jitter scenario
in 2 of 10 runs. On a slower 2-core machine (2026-12-03: 150-176 s with two workers) a third
worker gave 117-143 s, but the machine then ran so far beyond its cores that a correct hive
exited 16 ms later than "at once" allows, and a fourth worker made a correct retry 1.3 ms too late
for its jitter window. Timing that decides comes before speed.

A run in real time (time scale 1, as most third-party targets must run) is mostly waiting: retry
cycles of 31 s, 60 s cooldowns, 25 s timeouts, each scenario with its own target, fakes and ports,
so many scenarios can wait side by side and the run takes about as long as its longest scenario
(harness/scheduling.py starts the longest first). The waiting grows with the scale; so does the
number of workers, up to what the machine's memory and start-up cost allow.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from catalogue import PROFILES
from harness.errors import TargetFileError
from harness.targets.spec import load_target_file

SCALED_WORKERS = 2
MAX_WORKERS = 16
WORKERS_PER_SCALE = 16        # workers at time scale 1; fewer in proportion below it


def choose_workers(targets: Sequence[str], profiles: Sequence[str], project_root: Path) -> tuple[int, str]:
    """(workers, why) for the targets of a run: their slowest scale decides how much waits."""
    files = [Path(t) for t in targets] or [project_root / "targets" / f"reference-{p}.toml"
                                            for p in (profiles or PROFILES)]
    try:
        scales = [load_target_file(f).time_scale for f in files]
    except TargetFileError:
        return SCALED_WORKERS, "a target file could not be read; pytest will say why"
    scale = max(scales, default=1.0)
    cores = os.cpu_count() or 2
    if scale < 0.25:
        return max(1, min(SCALED_WORKERS, cores)), f"time scale {scale:g}: the run is mostly work for {cores} cores"
    workers = max(SCALED_WORKERS, min(MAX_WORKERS, round(WORKERS_PER_SCALE * scale)))
    return workers, f"time scale {scale:g}: scenarios mostly wait, so {workers} of them wait side by side"
