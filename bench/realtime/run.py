"""Real time: both profiles against the references at time scale 1, as most third-party targets
must run, and how close the run comes to its longest scenario.

    .venv/bin/python bench/realtime/run.py [--runs 3] [--workers N]

Each run is `faultline run --slow` against copies of the reference target files with every
time scale at 1 (faultline picks its workers, unless --workers says). Prints, per run, the wall
time, the longest scenario, the sum of all scenarios, the ratios wall / longest and wall / sum,
the peak timing tolerance the checks used, every failure or unverified clause, and each scenario
that ran again (harness.rerun) and why; writes
reports/bench-realtime.json. The runs share one reports directory, so each after the first
starts its scenarios longest first from what the previous one measured. Exit 1 when any run
was not conformant.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.stop_signals import install_stop_handlers  # noqa: E402
from bench.suite_runs import PROJECT_ROOT, SuiteRun, run_suite  # noqa: E402

PROFILES = ("gateway", "hive")


def real_time_target(profile: str, directory: Path) -> Path:
    """The reference target file with every time scale at 1, fit to be written anywhere."""
    source = PROJECT_ROOT / "targets" / f"reference-{profile}.toml"
    text = re.sub(r'^name = "([^"]+)"', r'name = "\1-real-time"', source.read_text(), count=1, flags=re.M)
    text = re.sub(r"^(coarse_)?time_scale = .*$", lambda m: f"{m.group(1) or ''}time_scale = 1", text, flags=re.M)
    text = re.sub(r'^template_file = "([^"/][^"]*)"', lambda m: f'template_file = "{source.parent / m.group(1)}"',
                  text, flags=re.M)
    path = directory / f"{profile}-real-time.toml"
    path.write_text(text)
    return path


def figures(run: SuiteRun) -> dict[str, object]:
    durations = [s.seconds for s in run.scenarios.values() if s.outcome != "skipped"]
    longest, total = max(durations, default=0.0), sum(durations)
    tolerances = [v["timing_tolerance_range"][1] for v in run.verdicts if v.get("timing_tolerance_range")]
    return {"wall_seconds": round(run.wall, 1), "longest_scenario_seconds": round(longest, 1),
            "sum_of_scenarios_seconds": round(total, 1), "scenarios": len(durations),
            "wall_over_longest": round(run.wall / longest, 2) if longest else None,
            "wall_over_sum": round(run.wall / total, 3) if total else None,
            "peak_tolerance_ms": round(max(tolerances) * 1000, 1) if tolerances else None,
            "verdicts": {v["implementation"]["name"]: v["verdict"] for v in run.verdicts},
            "exit": run.returncode,
            "failures": [f"{f.name}: {f.message}" for f in run.failures]
            + [f"not verified: {c}" for c in run.unverified],
            "run_again": [f"{s.name}: {s.rerun}" for s in run.reruns]}


def main() -> int:
    install_stop_handlers()  # SIGTERM unwinds like Ctrl-C: what the benchmark started is stopped
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="default: what faultline chooses")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="faultline-realtime-") as tmp:
        targets = [real_time_target(p, Path(tmp)) for p in PROFILES]
        options = ("--slow", *[f"--target={t}" for t in targets])
        reports = Path(tmp) / "reports"
        for number in range(1, args.runs + 1):
            run = run_suite(reports, workers=args.workers, options=options, timeout=3600)
            row = figures(run)
            rows.append(row)
            print(f"run {number}: wall {row['wall_seconds']} s, longest {row['longest_scenario_seconds']} s, "
                  f"sum {row['sum_of_scenarios_seconds']} s ({row['scenarios']} scenarios), "
                  f"wall/longest {row['wall_over_longest']}, wall/sum {row['wall_over_sum']}, "
                  f"peak tolerance {row['peak_tolerance_ms']} ms, {len(run.reruns)} run again, "
                  f"verdicts {row['verdicts']}", flush=True)
            for line in [*row["failures"], *row["run_again"]]:  # type: ignore[misc]
                print(f"    {line}", flush=True)
    out = PROJECT_ROOT / "reports" / "bench-realtime.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": rows}, indent=2) + "\n")
    print(f"written: {out}")
    return 0 if all(r["exit"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
