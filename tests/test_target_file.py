"""Target files: every mistake names the file, the key and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import TargetFileError
from harness.plugin import DEFAULT_TARGETS
from harness.targets import load_target_file

GOOD = '''
name = "x"
profile = "gateway"
kind = "process"
time_scale = 0.1
[process]
command = ["{{ python }}", "-m", "reference.gateway", "--port", "{{ port }}"]
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "target.toml"
    path.write_text(text)
    return path


def test_the_reference_target_files_load() -> None:
    for profile, path in DEFAULT_TARGETS.items():
        spec = load_target_file(path)
        assert spec.profile == profile and spec.kind == "process" and 0 < spec.time_scale <= 1


def test_a_good_file_loads_with_defaults(tmp_path: Path) -> None:
    spec = load_target_file(write(tmp_path, GOOD))
    assert spec.readiness.path == "/health" and spec.features == frozenset()


@pytest.mark.parametrize(("text", "key", "hint"), [
    (GOOD.replace('kind = "process"', 'kind = "proces"'), "kind", "must be one of process, url"),
    (GOOD.replace('profile = "gateway"', 'profile = "gw"'), "profile", "must be one of hive, gateway"),
    (GOOD.replace('name = "x"', ''), "name", "missing"),
    (GOOD.replace("time_scale = 0.1", "time_scale = 3"), "time_scale", "must be in (0, 1]"),
    (GOOD.replace("time_scale = 0.1", 'time_scale = "fast"'), "time_scale", "must be float"),
    (GOOD.replace("[process]", "tiem_scale = 1\n[process]"), "tiem_scale", "did you mean 'time_scale'"),
    (GOOD.replace("command =", "comand ="), "process.comand", "did you mean 'process.command'"),
    (GOOD.replace('["{{ python }}", "-m", "reference.gateway", "--port", "{{ port }}"]', "[]"),
     "process.command", "non-empty"),
    (GOOD + 'features = ["teleport"]\n', "process.features", "unknown key"),
    (GOOD.replace("[process]", 'features = ["teleport"]\n[process]'), "features[0]", "unknown optional feature"),
    (GOOD.replace("[process]", 'expected_failures = ["HIVE-HEALTH-001"]\n[process]'),
     "expected_failures[0]", "not a gateway clause"),
    (GOOD.replace("[process]", "[url]\nbase_url = 'x'\n[process]").replace('kind = "process"', 'kind = "url"'),
     "url.base_url", "must start with http://"),
    (GOOD.replace("kind = \"process\"", "kind = \"url\""), "[url]", "needs a [url] table"),
    (GOOD + "[config]\nfile = 'c.json'\n", "config.template", "exactly one of"),
    (GOOD + "[config]\nfile = 'c.json'\ntemplate_file = 'nope.j2'\n", "config.template_file", "cannot read"),
    (GOOD + "[readiness]\npath = 'health'\n", "readiness.path", "must start with '/'"),
    ("name = [", "(syntax)", "not valid TOML"),
])
def test_mistakes_name_file_key_and_fix(tmp_path: Path, text: str, key: str, hint: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TargetFileError) as caught:
        load_target_file(path)
    assert caught.value.key == key
    assert hint in caught.value.problem
    assert str(path) in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TargetFileError, match="no such file"):
        load_target_file(tmp_path / "absent.toml")
