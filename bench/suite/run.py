"""Suite speed: the conformance run's wall time next to its waiting floor.

    .venv/bin/python bench/suite/run.py [--skip-serial]

Runs `faultline run` against both references three times, side by side on this machine:
  A. -n 2 at the targets' time scales: wall time, and each scenario's duration d(s)
  B. -n 2 with --time-factor 2: each scenario's duration d(2s)
  C. in one process (--workers 0) at the targets' time scales: wall time
A scenario's duration is fixed work plus waits that scale with time, d(s) = c + w*s, so the
spec waits it must sit through at scale s take w*s = d(2s) - d(s) real seconds (doubling rather
than halving the scale keeps every timed check as loose as in run A or looser). The
waiting floor is their sum over scenarios (a scenario that did not pass in both runs counts 0,
so the ratios err against the suite); process start-up is the sum of every target's
start-to-ready time in run A's histories. Writes reports/bench-suite.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.stop_signals import install_stop_handlers  # noqa: E402
from bench.suite_runs import PROJECT_ROOT, SuiteRun, run_suite  # noqa: E402


def start_up_seconds(history_dir: Path) -> float:
    """Sum of PROCESS_START -> ready for every target the run started."""
    total = 0.0
    for path in history_dir.glob("*.jsonl"):
        started: dict[int, float] = {}
        for line in path.read_text().splitlines():
            event = json.loads(line)
            if not event["source"].startswith("target:"):
                continue
            pid = event["data"].get("pid")
            if event["kind"] == "process_start":
                started[pid] = event["t"]
            elif event["kind"] == "note" and event["data"].get("what") == "ready" and pid in started:
                total += event["t"] - started.pop(pid)
    return total


def waiting_floor(full: SuiteRun, doubled: SuiteRun) -> tuple[float, list[str]]:
    floor, excluded = 0.0, []
    for name, scenario in full.scenarios.items():
        other = doubled.scenarios.get(name)
        if scenario.outcome == "passed" and other is not None and other.outcome == "passed":
            floor += max(0.0, other.seconds - scenario.seconds)
        elif scenario.outcome != "skipped":
            excluded.append(name)
    return floor, excluded


def main() -> int:
    install_stop_handlers()  # SIGTERM unwinds like Ctrl-C: what the benchmark started is stopped
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-serial", action="store_true", help="leave out run C (the longest)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="faultline-bench-suite-") as tmp:
        base = Path(tmp)
        print("A: faultline run (-n 2) ...", flush=True)
        full = run_suite(base / "a")
        print(f"   {full.wall:.1f} s, exit {full.returncode}, {len(full.failures)} failed", flush=True)
        print("B: faultline run (-n 2, --time-factor 2) ...", flush=True)
        doubled = run_suite(base / "b", pytest_args=("--time-factor", "2"))
        print(f"   {doubled.wall:.1f} s, exit {doubled.returncode}, {len(doubled.failures)} failed", flush=True)
        serial = None
        if not args.skip_serial:
            print("C: faultline run (one process) ...", flush=True)
            serial = run_suite(base / "c", workers=0)
            print(f"   {serial.wall:.1f} s, exit {serial.returncode}", flush=True)
        floor, excluded = waiting_floor(full, doubled)
        start_up = start_up_seconds(full.reports / "history")
    bound = floor + start_up
    result = {
        "scenarios": sum(1 for s in full.scenarios.values() if s.outcome != "skipped"),
        "wall_n2_s": round(full.wall, 1), "wall_serial_s": round(serial.wall, 1) if serial else None,
        "waiting_floor_s": round(floor, 1), "process_start_up_s": round(start_up, 1),
        "ratio_serial": round(serial.wall / bound, 2) if serial else None,
        "ratio_n2": round(full.wall / (bound / 2), 2),
        "not_in_floor": excluded,
    }
    print(f"\nscenarios run:              {result['scenarios']}")
    print(f"waiting floor (sum):        {floor:.1f} s   process start-up (sum): {start_up:.1f} s")
    if serial:
        print(f"wall, one process:          {serial.wall:.1f} s   ratio to floor + start-up: {result['ratio_serial']}")
    print(f"wall, -n 2:                 {full.wall:.1f} s   ratio to (floor + start-up) / 2: {result['ratio_n2']}")
    if excluded:
        print(f"left out of the floor (did not pass in both runs): {', '.join(excluded)}")
    out = PROJECT_ROOT / "reports" / "bench-suite.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
