"""Docker targets for real: a daemon (installed and started here where none runs), an image of the
reference gateway built from this machine, the gateway profile run against it, and every way a
container could be left behind closed: scenario end, failed start, Ctrl-C, garbage, session sweep."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from catalogue import catalogue
from harness.errors import TargetStartError
from harness.plugin import PROJECT_ROOT
from harness.targets import TargetContext, load_target_file
from harness.targets.docker import RUN_ENV, RUN_LABEL, DockerTarget, remove_run_containers
from harness.wait import wait_until
from tests.dockerd import Daemon, DaemonUnavailable, docker_daemon
from tests.gateway_image import IMAGE_CHANGES, recipe, write_rootfs
from tests.machine_share import quiet_machine
from tests.commands import run_command

DOCKER_TARGET = PROJECT_ROOT / "targets" / "reference-gateway-docker.toml"
IMAGE = "faultline-reference-gateway:local"
TEMP_PREFIX = "faultline-reference-gateway-docker-"
FULL_PROFILE_ENV = "FAULTLINE_DOCKER_FULL_PROFILE"
# What a container changes: reaching the proxies from inside it (streams, faults, timeouts), its
# config file mounted, its log (observability), signals (cleanup), its port (auth, input, limits).
# The whole profile (106 scenarios) takes 2.5-3.5 min here with two workers: FAULTLINE_DOCKER_FULL_PROFILE=1 runs it.
CONTAINER_FAMILIES = ("GW-AUTH", "GW-ENV", "GW-HEALTH", "GW-STREAM", "GW-CLEANUP", "GW-OBS", "GW-TIMEOUT",
                      "GW-LIMIT")


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    with ExitStack() as stack:
        try:
            found = stack.enter_context(docker_daemon())
        except DaemonUnavailable as exc:
            pytest.skip(f"no Docker daemon can run here: {exc}")
        previous = os.environ.get("DOCKER_HOST")
        os.environ["DOCKER_HOST"] = found.host
        try:
            yield found
        finally:
            if previous is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = previous


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[Any]:
    import docker

    api = docker.DockerClient(base_url=daemon.host, timeout=120)
    yield api
    api.close()


@pytest.fixture(scope="module")
def gateway_image(daemon: Daemon, client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tarball = tmp_path_factory.mktemp("image") / "rootfs.tar"
    write_rootfs(recipe(), tarball)
    repository, tag = IMAGE.split(":")
    client.api.import_image(src=str(tarball), repository=repository, tag=tag, changes=list(IMAGE_CHANGES))
    tarball.unlink()
    yield IMAGE
    if daemon.started_pid is None:  # a daemon started here goes with all its images
        client.images.remove(IMAGE, force=True)


def run_containers(client: Any, run: str) -> list[str]:
    return [c["Names"][0].lstrip("/") for c in client.api.containers(all=True, filters={"label": f"{RUN_LABEL}={run}"})]


def our_temp_dirs(run: str = "") -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}{run}*"))


def docker_target_file(tmp_path: Path, docker_table: str) -> Path:
    path = tmp_path / "target.toml"
    path.write_text(f'name = "reference-gateway-docker"\nprofile = "gateway"\nkind = "docker"\n'
                    f'[docker]\n{docker_table}\n[readiness]\ntimeout = 20\n'
                    '[config]\nfile = "gateway.json"\ntemplate = \'{"api_token": "{{ token }}", "providers": []}\'\n',
                    encoding="utf-8")
    return path


@pytest.fixture
def own_run(monkeypatch: pytest.MonkeyPatch) -> str:
    """A run id for this test alone, so what it checks is not disturbed by tests running beside it."""
    run = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv(RUN_ENV, run)
    return run


def context() -> TargetContext:
    return TargetContext(time_scale=0.1, token="t", values={"providers": [], "limits": {}})


def selection() -> list[str]:
    if os.environ.get(FULL_PROFILE_ENV) == "1":
        return []
    ids = sorted(c for c in catalogue().clauses if c.rsplit("-", 1)[0] in CONTAINER_FAMILIES)
    return ["--", "-m", " or ".join(ids)]


@quiet_machine
def test_the_gateway_profile_runs_without_a_failure_against_the_reference_gateway_in_a_container(
        gateway_image: str, client: Any, daemon: Daemon, tmp_path: Path) -> None:
    run = f"test-{uuid.uuid4().hex[:12]}"
    done = run_command([sys.executable, "-m", "harness.cli", "run", "--target", str(DOCKER_TARGET),
                        "--profile", "gateway", "--reports-dir", str(tmp_path), *selection()],
                       cwd=PROJECT_ROOT, timeout=900, env={**os.environ, "DOCKER_HOST": daemon.host, RUN_ENV: run})
    # Part of the profile leaves the clauses outside it not verified: incomplete, exit 3.
    full = os.environ.get(FULL_PROFILE_ENV) == "1"
    assert done.returncode == (0 if full else 3), done.stdout[-4000:] + done.stderr[-2000:]
    verdict = json.loads((tmp_path / "verdict-reference-gateway-docker.json").read_text())
    assert verdict["verdict"] == ("conformant" if full else "incomplete"), verdict["summary"]
    assert verdict["kind"] == "docker" and verdict["summary"]["must_failed"] == {}, verdict["summary"]
    assert " passed" in done.stdout and "failed" not in done.stdout.splitlines()[-1]
    assert run_containers(client, run) == [], "containers of the run are left"
    assert our_temp_dirs(run) == set(), "temp dirs of the run are left"


def test_ctrl_c_during_a_run_leaves_no_container(gateway_image: str, client: Any, daemon: Daemon,
                                                 tmp_path: Path) -> None:
    run = f"test-{uuid.uuid4().hex[:12]}"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "--target", str(DOCKER_TARGET),
                             "--profile", "gateway", "--reports-dir", str(tmp_path), "--", "-k", "stream"],
                            cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "DOCKER_HOST": daemon.host, RUN_ENV: run}, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # CI may ignore SIGINT
    try:
        wait_until(lambda: run_containers(client, run), timeout=60.0, what="the run's first container")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole process group
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    wait_until(lambda: not run_containers(client, run), timeout=30.0, what="no container of the run",
               describe=lambda: str(run_containers(client, run)))
    assert our_temp_dirs(run) == set(), "temp dirs of the run are left"


def test_a_missing_image_is_named_with_the_fix(daemon: Daemon, tmp_path: Path, own_run: str) -> None:
    spec = load_target_file(docker_target_file(tmp_path, 'image = "faultline-no-such-image:0"'))
    with pytest.raises(TargetStartError) as caught:
        DockerTarget(spec).start(context())
    assert "faultline-no-such-image:0" in str(caught.value) and "never pulls" in str(caught.value)
    assert our_temp_dirs(own_run) == set()


def test_a_container_that_exits_at_start_fails_fast_with_its_log_tail(gateway_image: str, client: Any,
                                                                      tmp_path: Path, own_run: str) -> None:
    spec = load_target_file(docker_target_file(
        tmp_path, f'image = "{gateway_image}"\ncommand = ["--port", "{{{{ port }}}}", "--config", "/nowhere.json"]'))
    with pytest.raises(TargetStartError) as caught:
        DockerTarget(spec).start(context())
    assert caught.value.exit_code == 2, caught.value
    assert "/nowhere.json" in caught.value.log_tail, caught.value
    assert run_containers(client, own_run) == [] and our_temp_dirs(own_run) == set()


def test_a_container_is_removed_by_its_context_manager_and_by_its_finaliser(gateway_image: str, client: Any,
                                                                            tmp_path: Path, own_run: str) -> None:
    spec = load_target_file(docker_target_file(tmp_path, f'image = "{gateway_image}"\n'
                                                         'command = ["--port", "{{ port }}", "--config", '
                                                         '"{{ config_file }}"]'))
    with pytest.raises(KeyboardInterrupt), DockerTarget(spec).start(context()) as running:
        assert running.is_running() and running.pid is not None and len(run_containers(client, own_run)) == 1
        raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a scenario
    assert run_containers(client, own_run) == [] and our_temp_dirs(own_run) == set()
    abandoned = DockerTarget(spec).start(context())
    assert abandoned.is_running()
    del abandoned, running  # never stopped: the finaliser removes it when the object goes
    gc.collect()
    assert run_containers(client, own_run) == [] and our_temp_dirs(own_run) == set()


def test_the_sweep_removes_this_runs_containers_and_no_other(gateway_image: str, client: Any) -> None:
    ours, theirs = f"test-{uuid.uuid4().hex[:12]}", f"other-{uuid.uuid4().hex[:12]}"
    mine = client.containers.create(gateway_image, command=["--help"], labels={RUN_LABEL: ours})
    other = client.containers.create(gateway_image, command=["--help"], labels={RUN_LABEL: theirs})
    try:
        assert remove_run_containers(ours) == [mine.name]
        assert run_containers(client, ours) == [] and run_containers(client, theirs) == [other.name]
    finally:
        other.remove(force=True)


def test_an_unreachable_daemon_is_named_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      own_run: str) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    spec = load_target_file(docker_target_file(tmp_path, 'image = "anything:1"'))
    with pytest.raises(TargetStartError) as caught:
        DockerTarget(spec).start(context())
    assert "cannot reach the Docker daemon" in str(caught.value) and "DOCKER_HOST" in str(caught.value)
    assert our_temp_dirs(own_run) == set()
