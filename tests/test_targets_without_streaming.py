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
from harness.plugin import PROJECT_ROOT
from tests.defect_runs import reference_target_text

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


@pytest.mark.parametrize("profile", PROFILES)
def test_a_target_without_streaming_passes_every_must_clause_outside_a_feature(profile: str, tmp_path: Path) -> None:
    target, reports = target_without_streaming(tmp_path, profile), tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--target", str(target),
                          "--reports-dir", str(reports)],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    verdict = json.loads((reports / f"verdict-reference-{profile}-{SUFFIX}.json").read_text())
    assert "streaming" not in verdict["claimed_features"]
    clauses = verdict["clauses"]
    mandatory = [c.id for c in catalogue().for_profile(profile) if c.level == "MUST" and c.feature is None]
    unverified = {cid: clauses[cid]["result"] for cid in mandatory if clauses[cid]["result"] != "passed"}
    assert not unverified, f"MUST clauses of no optional feature not passed: {unverified}"
    streaming = [c.id for c in catalogue().for_profile(profile) if c.feature == "streaming"]
    assert streaming and all(clauses[cid]["result"] in ("skipped", "not covered") for cid in streaming), \
        {cid: clauses[cid]["result"] for cid in streaming}
