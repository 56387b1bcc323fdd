"""The `faultline` command: run the suite, merge split runs' verdicts, list clauses, serve the
fault-injecting proxy."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from catalogue import PROFILES, catalogue
from harness.concurrency import choose_workers
from harness.coverage import scan_features
from harness.proving import defects_by_clause
from harness.gate import EXIT_CONFORMANT, EXIT_ERROR, EXIT_INTERRUPTED, verdict_line, worst_exit_code
from harness.report.recorder import REPORT_FILE
from harness.run_scope import run_scope
from harness.stop_signals import run_in_own_group
from harness.verdict import write_verdict
from harness.verdict_merge import MergeError, merge_verdicts, read_verdict, write_merged_report

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTEST_INTERRUPTED, PYTEST_NO_TESTS = 2, 5
ACCEPT_HELP = ("exit 0 for a verdict that is incomplete only because of clauses the target declares as "
               "expected failures (the verdict stays incomplete and lists them)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog="faultline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="run the conformance suite and write reports",
        usage="faultline run [options] [FEATURE_FILE ...] [-- PYTEST_ARGUMENTS]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Everything after `--` goes to pytest as it is, for example:\n"
               "  faultline run -- -k breaker -x\n"
               "  faultline run features/gateway/retry_schedule.feature --clause GW-RETRY-004 -- --lf\n"
               "Exit codes: 0 conformant, 1 not conformant, 3 incomplete, 2 usage or harness error,\n"
               "130 interrupted.")
    run.add_argument("features", nargs="*", type=Path, metavar="FEATURE_FILE",
                     help="run only the scenarios of these feature files (features/<profile>/*.feature)")
    run.add_argument("--clause", action="append", default=[], metavar="ID",
                     help="run only the scenarios tagged with this clause, e.g. GW-RETRY-004; repeatable")
    run.add_argument("--target", action="append", default=[], metavar="FILE",
                     help="target file; repeatable (default: the embedded references)")
    run.add_argument("--profile", action="append", default=[], choices=PROFILES)
    run.add_argument("--slow", action="store_true", help="also run @slow scenarios at time scale 1")
    run.add_argument("--reports-dir", type=Path, default=PROJECT_ROOT / "reports")
    run.add_argument("--workers", type=int, default=None,
                     help="parallel pytest-xdist workers (0: run in one process); default: chosen from the "
                          "targets' time scales (2 when scaled, up to 16 in real time, where scenarios mostly wait)")
    run.add_argument("--accept-declared-failures", action="store_true", help=ACCEPT_HELP)

    merge = commands.add_parser("merge", help="merge one target's verdicts from runs split across machines")
    merge.add_argument("verdicts", nargs="+", type=Path, metavar="VERDICT",
                       help="verdict-<name>.json files of one target, each from a run of some scenarios")
    merge.add_argument("--out", type=Path, required=True, metavar="FILE",
                       help="where the merged verdict is written")
    merge.add_argument("--accept-declared-failures", action="store_true", help=ACCEPT_HELP)

    clauses = commands.add_parser("clauses", help="list the clause catalogue with its coverage")
    clauses.add_argument("--profile", choices=PROFILES)
    clauses.add_argument("--uncovered", action="store_true", help="only MUST clauses without a scenario")
    clauses.add_argument("--unproven", action="store_true",
                         help="only MUST clauses no deliberately broken reference (defect) proves")
    clauses.add_argument("--json", action="store_true")

    commands.add_parser("proxy", help="serve the Toxiproxy-compatible proxy (flags as toxiproxy-server)",
                        add_help=False)
    if argv and argv[0] == "proxy":
        return _proxy(argv[1:] + passthrough)
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args, passthrough)
    if args.command == "merge":
        return _merge(args)
    return _clauses(args)


def _run(args: argparse.Namespace, passthrough: list[str]) -> int:
    reports: Path = args.reports_dir.resolve()
    reports.mkdir(parents=True, exist_ok=True)
    for old in [*reports.glob("verdict-*.json"), *reports.glob("records-*.json"), reports / REPORT_FILE]:
        old.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", str(PROJECT_ROOT / "steps"), "--reports-dir", str(reports),
               f"--junitxml={reports / 'junit.xml'}", f"--alluredir={reports / 'allure-results'}",
               "--clean-alluredir"]
    command += [f"--target={Path(t).resolve()}" for t in args.target]
    profiles = args.profile or selected_profiles(args.features, args.clause)
    command += [f"--profile={p}" for p in profiles]
    command += [f"--feature-file={Path(f).resolve()}" for f in args.features]
    command += [f"--clause={c}" for c in args.clause]
    command += ["--slow"] if args.slow else []
    workers = args.workers
    if workers is None:
        workers, why = choose_workers(args.target, profiles, PROJECT_ROOT)
        print(f"faultline: {workers} workers ({why}; --workers N to choose)")
    command += ["-n", str(workers)] if workers > 0 else []
    with run_scope() as scope:
        finished = run_in_own_group(command + passthrough, PROJECT_ROOT, env={**os.environ, **scope})
    verdicts = [json.loads(p.read_text()) for p in sorted(reports.glob("verdict-*.json"))]
    interrupted = finished.stopped_by or (finished.code == PYTEST_INTERRUPTED
                                          and any(v["run"]["cut_short"] for v in verdicts))
    if interrupted:
        for verdict in verdicts:
            print(f"faultline: (partial) {verdict_line(verdict)}")
        if (reports / REPORT_FILE).exists():
            print(f"faultline: run interrupted; the report of what ran: {reports / REPORT_FILE}")
        return EXIT_INTERRUPTED
    if finished.code == PYTEST_NO_TESTS:
        print(f"faultline: no scenario matched the selection{_selection(passthrough)}; nothing to judge",
              file=sys.stderr)
        return EXIT_ERROR
    if finished.code not in (0, 1):   # internal or usage error, collection errors: pytest said why
        print(f"faultline: the run did not finish (pytest exit code {finished.code}); no verdict", file=sys.stderr)
        return EXIT_ERROR
    if not verdicts:
        print("faultline: no scenario ran, so there is no verdict", file=sys.stderr)
        return EXIT_ERROR
    for verdict in verdicts:
        print(f"faultline: {verdict_line(verdict)}")
    print(f"faultline: reports in {reports}; conformance report: {reports / REPORT_FILE}")
    print(allure_hint(reports))
    return worst_exit_code(verdicts, accept_declared_failures=args.accept_declared_failures)


def selected_profiles(features: list[Path], clauses: list[str]) -> list[str]:
    """The profiles a selection of feature files or clauses touches, so that the other profile's
    target is not started, judged and reported as not run; none when nothing is selected."""
    known = catalogue().clauses
    found = {f.resolve().parent.name for f in features} | {known[c].profile for c in clauses if c in known}
    return [p for p in PROFILES if p in found] if (features or clauses) and found <= set(PROFILES) else []


def _selection(passthrough: list[str]) -> str:
    return f" (pytest arguments: {' '.join(passthrough)})" if passthrough else ""


def _merge(args: argparse.Namespace) -> int:
    try:
        merged = merge_verdicts([read_verdict(path) for path in args.verdicts])
    except MergeError as refused:
        print(f"faultline merge: {refused}", file=sys.stderr)
        return EXIT_ERROR
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_verdict(args.out, merged)
    except OSError as error:
        print(f"faultline merge: cannot write {args.out} ({error.strerror or error})", file=sys.stderr)
        return EXIT_ERROR
    print(f"faultline: merged {len(args.verdicts)} verdict file(s) into {args.out}; {verdict_line(merged)}")
    report = args.out.with_suffix(".html")
    try:
        write_merged_report(merged, args.verdicts, report)
    except OSError as error:
        print(f"faultline merge: cannot write {report} ({error.strerror or error})", file=sys.stderr)
        return EXIT_ERROR
    print(f"faultline: merged report: {report}")
    return worst_exit_code([merged], accept_declared_failures=args.accept_declared_failures)


def allure_hint(reports: Path) -> str:
    """One line on the Allure results: how to render them, or why this machine cannot."""
    results = reports / "allure-results"
    if shutil.which("npx") is None:
        return (f"faultline: Allure results in {results}; Node.js (npx) is not installed, so they cannot be "
                f"rendered to HTML here (the conformance report and JUnit XML do not need it)")
    return (f"faultline: Allure results in {results}; render them with: "
            f"npx --yes allure@3 generate {results} -o {reports / 'allure-report'}")


def _clauses(args: argparse.Namespace) -> int:
    known = catalogue()
    coverage = scan_features(PROJECT_ROOT / "features", known)
    proofs = defects_by_clause()
    listed = [c for c in known.clauses.values() if args.profile in (None, c.profile)]
    rows = listed
    if args.uncovered:
        rows = coverage.uncovered(rows)
    if args.unproven:
        rows = [c for c in rows if c.level == "MUST" and not proofs.get(c.id)]
    if args.json:
        print(json.dumps([{"id": c.id, "level": c.level, "profile": c.profile, "feature": c.feature,
                           "text": c.text, "source": c.source,
                           "scenarios": [str(s) for s in coverage.scenarios_by_clause.get(c.id, [])],
                           "proven_by": proofs.get(c.id, [])}
                          for c in rows], indent=2))
        return EXIT_CONFORMANT
    for clause in rows:
        count = len(coverage.scenarios_by_clause.get(clause.id, []))
        mark = f"{count} scenario(s)" if count else "NO SCENARIO"
        proof = ", ".join(d.split("/", 1)[1] for d in proofs.get(clause.id, [])) or "UNPROVEN"
        print(f"{clause.id:<18} {clause.level:<6} {mark:<14} {clause.text}\n{'':<26}proven by: {proof}")
    uncovered = coverage.uncovered(listed)
    unproven = [c for c in listed if c.level == "MUST" and not proofs.get(c.id)]
    print(f"\n{len(rows)} clause(s) listed; MUST clauses without a scenario: {len(uncovered)}"
          + (f" ({', '.join(c.id for c in uncovered)})" if uncovered else "")
          + f"; MUST clauses no defect proves: {len(unproven)}")
    return EXIT_CONFORMANT


def _proxy(argv: list[str]) -> int:
    try:
        from fault_injection.toxiproxy.cli import main as proxy_main
    except ImportError:
        print("faultline proxy: the embedded proxy is not installed in this build", file=sys.stderr)
        return EXIT_ERROR
    return proxy_main(argv)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
