"""Zero flakes: the full conformance run, again and again, with and without a CPU hog.

    .venv/bin/python bench/flakes/run.py [--runs 20] [--hog-runs 10]

Runs `faultline run` against both references `--runs` times in a row, with the workers it chooses
by itself (as `make conformance` does); the last `--hog-runs` of them with a busy-looping process
pinned to one core (another program competing for the 2-core machine, as on a shared CI runner).
Prints every failure with its scenario and message, and writes reports/flakes.md; a failed run's
reports are kept in reports/flakes/run-N. Exit 1 when any run failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.stop_signals import install_stop_handlers  # noqa: E402
from bench.suite_runs import PROJECT_ROOT, SuiteRun, run_suite  # noqa: E402

HOG = "import os; os.sched_setaffinity(0, {0}) if hasattr(os, 'sched_setaffinity') else None\nwhile True: pass"


@contextmanager
def cpu_hog(active: bool) -> Iterator[None]:
    if not active:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", HOG])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def keep_reports(run: SuiteRun, number: int) -> Path:
    """A failed run's reports, kept where the run's temporary directory is not: a flake is
    understood from its evidence, and the next failing run may be days away."""
    kept = PROJECT_ROOT / "reports" / "flakes" / f"run-{number}"
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(run.reports, kept, ignore=shutil.ignore_patterns("allure-results"))
    return kept


def main() -> int:
    install_stop_handlers()  # SIGTERM unwinds like Ctrl-C: what the benchmark started is stopped
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--hog-runs", type=int, default=10, help="how many of the runs (the last ones) get a CPU hog")
    args = parser.parse_args()
    if not 0 < args.runs or not 0 <= args.hog_runs <= args.runs:
        parser.error("need 0 < --runs and 0 <= --hog-runs <= --runs")
    rows: list[tuple[int, bool, SuiteRun]] = []
    with tempfile.TemporaryDirectory(prefix="faultline-flakes-") as tmp:
        for number in range(1, args.runs + 1):
            hog = number > args.runs - args.hog_runs
            with cpu_hog(hog):
                run = run_suite(Path(tmp) / f"run-{number}", workers=None)   # the workers a user's run gets
            rows.append((number, hog, run))
            ran = sum(1 for s in run.scenarios.values() if s.outcome != "skipped")
            print(f"run {number:2d}{' (CPU hog)' if hog else '          '}: {run.wall:6.1f} s, {ran} scenarios, "
                  f"exit {run.returncode}, {len(run.failures)} failed, {len(run.reruns)} run again", flush=True)
            for failure in run.failures:
                print(f"    FAILED {failure.name}: {failure.message}", flush=True)
            if run.returncode != 0 or run.failures or run.unverified:
                kept = keep_reports(run, number)
                print(f"    its reports (the failed scenarios' histories among them): {kept}", flush=True)
            for clause in run.unverified:
                print(f"    NOT VERIFIED {clause}", flush=True)
    failed_runs = [r for r in rows if r[2].returncode != 0 or r[2].failures or r[2].unverified]
    lines = [f"# Flakes: {len(failed_runs)} of {len(rows)} full runs failed ({args.hog_runs} with a CPU hog)", "",
             f"machine: {os.cpu_count()} cores", "",
             "| run | CPU hog | wall (s) | scenarios | exit | failures | run again |",
             "|---|---|---|---|---|---|---|"]
    for number, hog, run in rows:
        ran = sum(1 for s in run.scenarios.values() if s.outcome != "skipped")
        failures = "<br>".join([f"{f.name}: {f.message}" for f in run.failures]
                               + [f"not verified: {c}" for c in run.unverified])
        again = "<br>".join(f"{s.name}: {s.rerun}" for s in run.reruns)
        lines.append(f"| {number} | {'yes' if hog else 'no'} | {run.wall:.1f} | {ran} | {run.returncode} "
                     f"| {failures} | {again} |")
    out = PROJECT_ROOT / "reports" / "flakes.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"\n{lines[0][2:]}\nwritten: {out}")
    return 1 if failed_runs else 0


if __name__ == "__main__":
    sys.exit(main())
