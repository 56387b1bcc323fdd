"""Targets forked from a preloading server are processes of their own, reached only by their
pidfd, with the exit code their program gives, and nothing of them or the server is left."""

from __future__ import annotations

import json
from collections.abc import Iterator
import os
import signal
import sys
import tempfile
import textwrap
from pathlib import Path

import psutil
import pytest

from harness.errors import TargetFileError, TargetStartError
from harness.targets import TargetContext, load_target_file, make_target
from harness.targets.forked import ForkServer, ForkServerError, ServerKey
from harness.wait import wait_until

PROBE = '''
    import gc, json, os, signal, sys, time
    import probe_deps
    def on_term(signum, frame):
        print("stopping on SIGTERM", file=sys.stderr, flush=True)
        sys.exit(7)
    signal.signal(signal.SIGTERM, on_term)
    fds = sorted(os.listdir("/proc/self/fd"))
    with open(sys.argv[1], "w") as out:
        json.dump({"pid": os.getpid(), "sid": os.getsid(0), "cwd": os.getcwd(), "argv": sys.argv[1:],
                   "env": os.environ.get("PROBE_VALUE"), "stdin": os.readlink("/proc/self/fd/0"),
                   "preloaded_at": probe_deps.IMPORTED_AT, "fds": fds,
                   "frozen": gc.get_freeze_count(), "collecting": gc.isenabled()}, out)
    print("probe ready", flush=True)
    while True:
        time.sleep(1)
'''


@pytest.fixture
def modules(tmp_path: Path) -> Path:
    (tmp_path / "probe_deps.py").write_text("import time\nIMPORTED_AT = time.monotonic()\n")
    (tmp_path / "probe.py").write_text(textwrap.dedent(PROBE))
    (tmp_path / "crashes.py").write_text("import probe_deps\nraise RuntimeError('the model store is gone')\n")
    return tmp_path


@pytest.fixture
def server(modules: Path) -> Iterator[ForkServer]:
    started = ForkServer(ServerKey(sys.executable, str(modules), ("probe_deps",)))
    yield started
    left = psutil.Process(started._popen.pid).children() if started.alive() else []   # a failed test's targets
    for process in left:
        process.kill()
    started.close()   # the server exits, so its killed children are reaped
    psutil.wait_procs(left, timeout=10)


def report_of(path: Path) -> dict[str, object]:
    wait_until(lambda: path.exists() and path.stat().st_size > 0, timeout=10.0, what="the probe's report")
    return json.loads(path.read_text())


def test_a_forked_target_is_a_process_of_its_own_with_its_argv_env_and_files(server: ForkServer, modules: Path,
                                                                               tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    child = server.start("probe", [str(out)], {**os.environ, "PROBE_VALUE": "seen"}, str(modules), tmp_path / "log")
    report = report_of(out)
    assert report["pid"] == child.pid != server._popen.pid
    assert report["sid"] == child.pid, "a session of its own keeps the terminal's Ctrl-C away"
    assert report["cwd"] == str(modules)
    assert report["argv"] == [str(out)] and report["env"] == "seen"
    assert report["stdin"] == os.devnull
    assert report["fds"] == ["0", "1", "2", "3"], "only its standard files (3: the listing itself)"
    other = server.start("probe", [str(tmp_path / "other.json")], dict(os.environ), str(modules), tmp_path / "log2")
    assert report_of(tmp_path / "other.json")["preloaded_at"] == report["preloaded_at"], \
        "the preloaded module was imported once, by the server, not by each target"
    assert report["frozen"] and report["collecting"], \
        "what the preload made is frozen (its collections never walk it), and the target still collects its own"
    other.kill()
    other.wait(10)
    assert psutil.Process(child.pid).ppid() == server._popen.pid
    child.send_signal(signal.SIGTERM)
    assert child.wait(10) == 7
    assert "stopping on SIGTERM" in (tmp_path / "log").read_text()


def test_a_killed_target_reports_the_signal_and_is_then_never_signalled_again(server: ForkServer, modules: Path,
                                                                             tmp_path: Path) -> None:
    child = server.start("probe", [str(tmp_path / "r.json")], dict(os.environ), str(modules), tmp_path / "log")
    assert child.poll() is None
    with pytest.raises(Exception, match="timed out"):
        child.wait(0.05)
    child.kill()
    assert child.wait(10) == -signal.SIGKILL
    assert not psutil.pid_exists(child.pid) or psutil.Process(child.pid).ppid() != server._popen.pid
    child.send_signal(signal.SIGTERM)   # reaped: a no-op, whatever process has that pid now


def test_a_target_that_crashes_exits_1_with_its_traceback_in_its_log(server: ForkServer, modules: Path,
                                                                     tmp_path: Path) -> None:
    child = server.start("crashes", [], dict(os.environ), str(modules), tmp_path / "log")
    assert child.wait(10) == 1
    assert "RuntimeError: the model store is gone" in (tmp_path / "log").read_text()


def test_a_preload_that_cannot_be_imported_is_reported_with_the_servers_log(modules: Path, tmp_path: Path) -> None:
    server = ForkServer(ServerKey(sys.executable, str(modules), ("no_such_module_here",)))
    try:
        with pytest.raises(ForkServerError, match="exited with code 3") as caught:
            server.start("probe", [], dict(os.environ), str(modules), tmp_path / "log")
        assert "No module named 'no_such_module_here'" in str(caught.value)
    finally:
        server.close()


def test_a_server_whose_harness_is_gone_stops_the_targets_left_running(server: ForkServer, modules: Path,
                                                                       tmp_path: Path) -> None:
    """A killed harness never stops its targets; its fork server sees the pipe close and does."""
    out = tmp_path / "report.json"
    child = server.start("probe", [str(out)], dict(os.environ), str(modules), tmp_path / "log")
    report_of(out)
    server._close_pipes()                  # what a killed harness leaves: its pipe ends closed, nothing stopped
    assert server._popen.wait(10) == 0
    assert "stopping on SIGTERM" in (tmp_path / "log").read_text(), "the orphan was asked to stop"
    assert not psutil.pid_exists(child.pid), "the orphan is gone and reaped"
    assert not server.log_path.parent.exists(), "the server removed its directory, which nobody else would"


def test_a_stop_signal_to_the_harnesss_group_leaves_the_server_serving(server: ForkServer, modules: Path,
                                                                        tmp_path: Path) -> None:
    """SIGTERM or Ctrl-C to the run's process group reaches the server too; the harness then stops
    its targets, which it cannot reap without the server."""
    out = tmp_path / "report.json"
    child = server.start("probe", [str(out)], dict(os.environ), str(modules), tmp_path / "log")
    report_of(out)
    for signum in (signal.SIGTERM, signal.SIGINT):
        os.kill(server._popen.pid, signum)
    child.send_signal(signal.SIGTERM)
    assert child.wait(10) == 7
    assert server.alive()


def test_closing_the_server_leaves_no_process_and_no_directory(modules: Path) -> None:
    server = ForkServer(ServerKey(sys.executable, str(modules), ("probe_deps",)))
    pid, directory = server._popen.pid, server.log_path.parent
    server.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not directory.exists()


def preloaded_target(tmp_path: Path, command: str) -> Path:
    (tmp_path / "tiny_gateway.py").write_text(textwrap.dedent('''
        import http.server, sys
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
            def log_message(self, *a): pass
        if __name__ == "__main__":
            http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    '''))
    path = tmp_path / "target.toml"
    path.write_text(textwrap.dedent(f'''
        name = "preloaded"
        profile = "gateway"
        kind = "process"
        [process]
        command = {command}
        cwd = "{tmp_path}"
        preload = ["tiny_gateway"]
        [readiness]
        path = "/health"
        timeout = 20
    '''))
    return path


def test_a_target_file_with_preload_starts_and_stops_its_target_by_fork(tmp_path: Path) -> None:
    path = preloaded_target(tmp_path, '["{{ python }}", "-m", "tiny_gateway", "{{ port }}"]')
    running = make_target(load_target_file(path)).start(TargetContext(time_scale=0.05, token="t"))
    try:
        assert running.pid is not None and psutil.Process(running.pid).ppid() != os.getpid()
        assert running.is_running()
    finally:
        running.stop()
    assert not running.is_running() and running.exit_code == -signal.SIGTERM


def test_preload_needs_a_command_that_runs_a_module(tmp_path: Path) -> None:
    path = preloaded_target(tmp_path, '["{{ python }}", "tiny_gateway.py", "{{ port }}"]')
    with pytest.raises(TargetFileError, match="process.preload"):
        load_target_file(path)


def test_a_preloaded_target_that_exits_at_start_fails_fast_with_its_log_tail(tmp_path: Path) -> None:
    path = preloaded_target(tmp_path, '["{{ python }}", "-m", "tiny_gateway", "not-a-port"]')
    with pytest.raises(TargetStartError) as caught:
        make_target(load_target_file(path)).start(TargetContext(time_scale=0.05, token="t"))
    assert "exited with code 1" in str(caught.value)
    assert "ValueError" in caught.value.log_tail


def test_an_interpreter_that_cannot_run_is_reported_and_leaves_no_directory(modules: Path) -> None:
    before = set(Path(tempfile.gettempdir()).glob("faultline-fork-server-*"))
    with pytest.raises(ForkServerError, match="cannot run '/no/such/python'"):
        ForkServer(ServerKey("/no/such/python", str(modules), ("probe_deps",)))
    assert set(Path(tempfile.gettempdir()).glob("faultline-fork-server-*")) == before
