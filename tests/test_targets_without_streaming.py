"""A target that does not claim streaming still verifies every MUST clause outside an optional feature.

Each reference, renamed and claiming every optional feature but `streaming`, runs its whole
profile: whatever runs must pass (a hidden streaming dependency would fail here for the wrong
reason), and each MUST clause of no optional feature must pass, so none silently drops out.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from catalogue import PROFILES, catalogue
from tests.cases import only_undecidable
from harness.plugin import PROJECT_ROOT
from tests.defect_runs import reference_target_text
from tests.machine_share import quiet_machine

SUFFIX = "without-streaming"


def target_without_streaming(tmp_path: Path, profile: str) -> Path:
    text = reference_target_text(profile, SUFFIX)
    claimed = tomllib.loads(text)["features"]
    assert "streaming" in claimed, "the reference claims no streaming: this test would prove nothing"
    kept = ", ".join(f'"{name}"' for name in claimed if name != "streaming")
    text, replaced = re.subn(r"^features = \[[^\]]*\]", f"features = [{kept}]", text, count=1, flags=re.M)
    assert replaced == 1, "the reference target file's features have an unexpected shape"
    path = tmp_path / f"{profile}-{SUFFIX}.toml"
    path.write_text(text)
    return path


@quiet_machine
@pytest.mark.parametrize("profile", PROFILES)
def test_a_target_without_streaming_passes_every_must_clause_outside_a_feature(profile: str, tmp_path: Path) -> None:
    target, reports = target_without_streaming(tmp_path, profile), tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--target", str(target),
                          "--reports-dir", str(reports)],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode in (0, 3), run.stdout[-4000:] + run.stderr[-2000:]
    verdict = json.loads((reports / f"verdict-reference-{profile}-{SUFFIX}.json").read_text())
    assert "streaming" not in verdict["claimed_features"]
    clauses = verdict["clauses"]
    mandatory = [c.id for c in catalogue().for_profile(profile) if c.level == "MUST" and c.feature is None]
    # A busy test machine may leave a timed check undecidable; nothing else may keep one from passing.
    unverified = {cid: clauses[cid]["reasons"] for cid in mandatory if clauses[cid]["result"] != "passed"}
    assert all(clauses[cid]["result"] == "not verified" for cid in unverified) and only_undecidable(unverified), \
        f"MUST clauses of no optional feature not passed: {unverified}"
    streaming = [c.id for c in catalogue().for_profile(profile) if c.feature == "streaming"]
    assert streaming and all(clauses[cid]["result"] == "not applicable" for cid in streaming), \
        {cid: clauses[cid]["result"] for cid in streaming}
    # A claimed feature's clause whose every scenario also streams (fallback to buffered calls, the
    # streaming error counter) cannot be verified without streaming, and says so.
    needs_streaming = "needs optional feature(s) streaming, which the target does not claim"
    featured = {c.id: clauses[c.id]["reasons"] for c in catalogue().for_profile(profile)
                if c.level == "MUST" and c.feature not in (None, "streaming") and clauses[c.id]["result"] != "passed"}
    assert all(any(needs_streaming in r for r in reasons) or only_undecidable({cid: reasons})
               for cid, reasons in featured.items()), f"MUST clauses of a claimed feature not passed: {featured}"
    assert verdict["verdict"] == ("conformant" if not (unverified or featured) else "incomplete"), verdict["summary"]
