"""The conformance report of a real failing run, read as a person reads it: parsed, and opened
in headless Chromium (Debian's `chromium`), which must render the matrix and the timelines; a
screenshot is left in reports/.

One small run against a reference gateway broken with `--defect ignores-retry-after`: the
backoff-schedule scenario passes, the Retry-After scenario fails GW-RETRY-007.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.plugin import PROJECT_ROOT
from tests.defect_runs import defect_target
from tests.report_pages import Element, parse

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = PROJECT_ROOT / "reports" / "conformance-report.png"
WINDOW = (1280, 2000)
DEFECT = "ignores-retry-after"
SCENARIOS = "six_attempts or retryafter_within"
FAILED_CLAUSE, PASSED_CLAUSE = "GW-RETRY-007", "GW-RETRY-004"


@dataclass(frozen=True)
class FailingRun:
    returncode: int
    output: str
    reports: Path
    target_name: str

    @property
    def html(self) -> str:
        return (self.reports / "conformance.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory: pytest.TempPathFactory) -> FailingRun:
    work = tmp_path_factory.mktemp("report-run")
    target = defect_target(work, "gateway", DEFECT)
    for template in (PROJECT_ROOT / "targets").glob("*.j2"):  # templates a target file names beside itself
        shutil.copy(template, work)
    reports = work / "reports"
    completed = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--target", str(target),
                                "--reports-dir", str(reports), "--", "-k", SCENARIOS],
                               cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    name = json.loads(next(reports.glob("verdict-*.json")).read_text())["implementation"]["name"] \
        if list(reports.glob("verdict-*.json")) else ""
    return FailingRun(completed.returncode, completed.stdout + completed.stderr, reports, name)


def article_of(doc: Element, clause: str) -> Element:
    [row] = doc.find_all("tr", data_clause=clause)
    [link] = [a for a in row.find_all("a") if a.all_text() == "evidence"]
    return doc.by_id(link.attrs["href"].removeprefix("#"))


def test_a_failing_run_leaves_every_report_and_fails(failing_run: FailingRun) -> None:
    assert failing_run.returncode == 1, failing_run.output
    assert "(gateway): not conformant; " in failing_run.output
    assert f"failed: {FAILED_CLAUSE} (" in failing_run.output
    for produced in ("junit.xml", "conformance.html", f"verdict-{failing_run.target_name}.json"):
        assert (failing_run.reports / produced).is_file(), produced
    verdict = json.loads((failing_run.reports / f"verdict-{failing_run.target_name}.json").read_text())
    assert verdict["clauses"][FAILED_CLAUSE]["result"] == "failed"
    assert verdict["timing_tolerance_seconds"] > 0


def test_the_report_shows_the_failed_clause_with_its_evidence_and_timeline(failing_run: FailingRun) -> None:
    doc = parse(failing_run.html)
    assert doc.find_all("tr", data_clause=FAILED_CLAUSE)[0].attrs["data-result"] == "failed"
    failure = article_of(doc, FAILED_CLAUSE)
    assert "came too early" in failure.find_all("pre", class_="reason")[0].all_text()
    evidence = {d.find_all("summary")[0].all_text(): d.all_text()
                for d in failure.find_all("details", class_="evidence")}
    assert {"scenario history", "requests the fake providers received", "active toxics"} <= set(evidence)
    log = next(name for name in evidence if name.startswith(failing_run.target_name))
    assert "429" in evidence["requests the fake providers received"] and evidence[log].strip()
    verdicts = [g.attrs["data-verdict"] for g in failure.find_all("g", class_="mark")]
    assert verdicts == ["free", "outside"], "attempt 2 came before the Retry-After window"


def test_the_passing_schedule_is_drawn_inside_its_windows(failing_run: FailingRun) -> None:
    doc = parse(failing_run.html)
    [row] = doc.find_all("tr", data_clause=PASSED_CLAUSE)
    assert row.attrs["data-result"] == "passed"
    timeline = article_of(doc, PASSED_CLAUSE)
    assert [g.attrs["data-verdict"] for g in timeline.find_all("g", class_="mark")] == ["free"] + ["inside"] * 5
    assert len(timeline.find_all("rect", class_="window")) == 5


def test_allure_results_carry_clause_labels_links_and_the_failure_evidence(failing_run: FailingRun) -> None:
    results = [json.loads(p.read_text()) for p in (failing_run.reports / "allure-results").glob("*-result.json")]
    [failed] = [r for r in results if {"name": "clause", "value": FAILED_CLAUSE} in r["labels"]]
    labels = {(label["name"], label["value"]) for label in failed["labels"]}
    assert {("profile", "gateway"), ("level", "MUST"), ("target", failing_run.target_name)} <= labels
    assert any(link["url"].endswith(f"#clause-{failing_run.target_name}-{FAILED_CLAUSE}") for link in failed["links"])
    assert failed["status"] == "failed"
    assert {"scenario history", "active toxics"} <= {a["name"] for a in failed.get("attachments", [])}


def chromium(*args: str, timeout: float = 90.0) -> str:
    """Run headless Chromium in a fresh profile; kill its whole process group if it hangs."""
    with tempfile.TemporaryDirectory(prefix="faultline-chromium-") as profile:
        command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={profile}", *args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                   start_new_session=True)
        try:
            out, _ = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[None]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (make test does, with apt-get, when run as "
                    "root); the report is still checked without a browser")
    yield


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_chromium_renders_the_matrix_and_the_timelines(browser: None, failing_run: FailingRun) -> None:
    url = (failing_run.reports / "conformance.html").as_uri()
    dom = parse(chromium("--dump-dom", url))
    rows = dom.find_all("tr", data_clause=FAILED_CLAUSE)
    assert rows and rows[0].attrs["data-result"] == "failed", "the clause matrix did not render"
    figures = dom.find_all("figure", class_="timeline")
    svgs = [svg for figure in figures for svg in figure.find_all("svg")]
    assert len(svgs) == 2, f"expected two timelines, the browser built {len(svgs)}"
    assert [g.attrs["data-verdict"] for g in svgs[0].find_all("g", class_="mark")] == ["free", "outside"]

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    chromium(f"--screenshot={SCREENSHOT}", f"--window-size={WINDOW[0]},{WINDOW[1]}", url)
    assert SCREENSHOT.is_file(), "chromium left no screenshot"
    assert png_size(SCREENSHOT) == WINDOW
