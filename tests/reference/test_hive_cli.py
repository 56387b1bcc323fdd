"""The hive CLI's exit codes: 0 success, 1 error, 124 timeout, 255 hive unreachable."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fault_injection.gpu.journal import read_journal
from harness.portal import BackgroundLoop
from harness.ports import free_port
from test_hive_support import ROOT, SCALE, TOKEN, gpu_plan, model_hub, running_hive


@pytest.fixture(scope="module")
def loop() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as background:
        yield background


def cli(url: str, *args: str, defect: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "reference.hive.cli", "--url", url, "--token", TOKEN,
               "--time-scale", str(SCALE), *(["--defect", defect] if defect else []), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_success_error_and_unreachable(tmp_path: Path, loop: BackgroundLoop) -> None:
    with model_hub(loop) as hub, running_hive(tmp_path, hub.url) as hive:
        spawned = cli(hive.url, "spawn", "--model", "hf:Org/Small", "--backend", "cpu")
        assert spawned.returncode == 0, spawned.stderr
        worker_id = json.loads(spawned.stdout)["worker_id"]
        inferred = cli(hive.url, "infer", "--prompt", "hi", "--max-tokens", "2", "--stream")
        assert (inferred.returncode, inferred.stdout) == (0, "tok0 tok1 \n")
        bad = cli(hive.url, "spawn", "--model", "hf:Org/Small;rm -rf /")
        assert bad.returncode == 1 and json.loads(bad.stderr)["error"]["code"] == "VALIDATION_ERROR"
        assert cli(hive.url, "stop", "--worker-id", worker_id).returncode == 0
        assert cli(hive.url, "list").returncode == 0
    assert cli(f"http://127.0.0.1:{free_port()}", "list").returncode == 255


def test_a_hung_worker_or_the_cli_own_clock_make_it_exit_124(tmp_path: Path, loop: BackgroundLoop) -> None:
    with model_hub(loop) as hub, running_hive(tmp_path, hub.url, plan=gpu_plan(hang_after_tokens=1)) as hive:
        for flags in ([], ["--stream"]):
            assert hive.spawn(backend="cuda").status_code == 200  # the previous hung worker was stopped
            hung = cli(hive.url, "infer", "--prompt", "hi", *flags)
            assert hung.returncode == 124, (hung.stderr, hive.workers(), hive.log(),
                                            [(e.kind, e.pid, e.fields) for e in read_journal(hive.journal)])
            assert json.loads(hung.stderr)["error"]["code"] == "INFERENCE_TIMEOUT"
        assert hive.spawn(backend="cuda").status_code == 200
        # The CLI's own clock (here 5 s instead of 30 s, so it runs out before the hive's 25 s).
        own = cli(hive.url, "--timeout", "5", "infer", "--prompt", "hi")
        assert own.returncode == 124 and json.loads(own.stderr)["error"]["code"] == "GATEWAY_TIMEOUT"
        defect = cli(hive.url, "--timeout", "5", "infer", "--prompt", "hi", defect="exit-0-on-timeout")
        assert defect.returncode == 0
