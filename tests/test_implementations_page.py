"""docs/implementations.md is what `make implementations` writes from the published runs, and a
published run cannot leave a failed clause without its hand-checked cause, nor keep a cause for a
clause that did not fail."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tools import implementations


def test_the_page_is_up_to_date_with_its_sources() -> None:
    assert implementations.main(["--check"]) == 0, "run `make implementations` and commit docs/implementations.md"


def test_every_published_failure_has_its_cause_and_every_cause_a_failure(tmp_path: Path) -> None:
    source = next(p for p in sorted(implementations.SOURCES.iterdir()) if (p / "verdict.json").is_file())
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    verdict = json.loads((copy / "verdict.json").read_text())
    failed = sorted(c for c, r in verdict["clauses"].items() if r["result"] == "failed")
    passed = sorted(c for c, r in verdict["clauses"].items() if r["result"] == "passed")
    assert failed and passed
    published = implementations.load(copy)
    assert set(published.causes) == {c for c, r in verdict["clauses"].items()
                                     if r["result"] in implementations.NEEDS_CAUSE}
    text = (copy / "causes.yaml").read_text()
    (copy / "causes.yaml").write_text(text.replace(f"  {failed[0]}:", "  GW-NOT-A-CLAUSE-0:", 1))
    with pytest.raises(implementations.PublishError, match=f"no cause for {failed[0]}"):
        implementations.load(copy)
    (copy / "causes.yaml").write_text(text + f"  {passed[0]}: \"a cause for a clause that passed\"\n")
    with pytest.raises(implementations.PublishError, match=f"{passed[0]} did not fail"):
        implementations.load(copy)
