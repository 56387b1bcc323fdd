"""How many workers a run gets when the user does not say.

A scaled run (the references at 0.1) is work and waiting about half and half: with one worker
per core the two cores were about 55 % busy (123-138 s for both references), with one more 73 %
(103-108 s), so it gets one worker per core and one more. A third worker on two cores makes the
machine noisier, and the timing must stay decidable in it: every check's tolerance counts the
stalls of the event loop the fakes stamp arrivals on, and scenarios plan their scale for twice the
tolerance they expect (harness/calibration.py, harness/timing.py). Before the event loop was
measured, three workers beside a busy program left a jitter clause not verified in 2 of 10 runs.

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

SCALED_WORKERS = 2            # when the targets cannot be read (pytest then says why)
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
        return cores + 1, f"time scale {scale:g}: half work, half waiting: one worker per core ({cores}) and one more"
    workers = max(cores + 1, min(MAX_WORKERS, round(WORKERS_PER_SCALE * scale)))
    return workers, f"time scale {scale:g}: scenarios mostly wait, so {workers} of them wait side by side"
