"""Process targets: fast, explained failures at start, and nothing of them left afterwards."""

from __future__ import annotations

import os
import signal
import sys
import threading
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from harness.errors import TargetFileError, TargetStartError
from harness.history import EventKind, History
from harness.process_tree import MARKER_ENV, marked_processes
from harness.stop_signals import install_stop_handlers
from harness.targets import TargetContext, load_target_file, make_target


def target_file(tmp_path: Path, *scripts: str, timeout: float = 20, extra: str = "") -> Path:
    program = tmp_path / "program.py"
    program.write_text("\n".join(textwrap.dedent(s) for s in scripts))
    path = tmp_path / "target.toml"
    path.write_text(textwrap.dedent(f'''
        name = "probe"
        profile = "gateway"
        kind = "process"
        [process]
        command = ["{{{{ python }}}}", "{program}", "{{{{ port }}}}"]
        {extra}
        [readiness]
        path = "/health"
        timeout = {timeout}
    '''))
    return path


def context(history: History | None = None) -> TargetContext:
    return TargetContext(time_scale=0.05, token="t0k3n", recorder=history)


SERVE_HEALTH = '''
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''


def test_a_target_that_exits_at_start_fails_fast_with_its_log_tail(tmp_path: Path) -> None:
    path = target_file(tmp_path, '''
        import sys
        print("loading config", flush=True)
        print("fatal: cannot open model store /nowhere", file=sys.stderr, flush=True)
        sys.exit(3)
    ''', timeout=30)
    started = time.monotonic()
    with pytest.raises(TargetStartError) as caught:
        make_target(load_target_file(path)).start(context())
    assert time.monotonic() - started < 10, "a dead process must be noticed at once, not at the timeout"
    assert "exited with code 3" in str(caught.value)
    assert "fatal: cannot open model store /nowhere" in caught.value.log_tail


def test_a_target_that_never_becomes_ready_fails_with_log_tail_and_leaves_nothing(tmp_path: Path) -> None:
    path = target_file(tmp_path, '''
        import subprocess, sys, time
        print("warming up forever", flush=True)
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        while True:
            time.sleep(1)
    ''', timeout=1.5)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(TargetStartError) as caught:
        make_target(load_target_file(path)).start(context())
    assert "not ready after 1.5s" in str(caught.value)
    assert "warming up forever" in caught.value.log_tail
    after = {p.pid for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE}
    assert after <= before, f"processes left behind: {after - before}"


def test_stop_kills_the_whole_tree_even_when_it_ignores_sigterm(tmp_path: Path) -> None:
    path = target_file(tmp_path, '''
        import signal, subprocess, sys
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    ''', SERVE_HEALTH)
    history = History()
    running = make_target(load_target_file(path)).start(context(history))
    assert running.pid is not None and running.run_marker is not None
    tree = psutil.Process(running.pid).children(recursive=True)
    assert tree, "the grandchild should be running"
    running.stop(grace=1.0)
    assert not psutil.pid_exists(running.pid) or psutil.Process(running.pid).status() == psutil.STATUS_ZOMBIE
    assert not marked_processes(running.run_marker)
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in tree)
    assert [e.data["exit_code"] for e in history.events(EventKind.PROCESS_EXIT)] == [-signal.SIGKILL]
    assert running.temp_dir is not None and not running.temp_dir.exists()


def test_ctrl_c_while_a_target_stops_waits_for_the_stop_and_leaves_nothing(tmp_path: Path) -> None:
    """A target slow to stop (it ignores SIGTERM) and a Ctrl-C within the grace: the stop still
    kills it and removes its directory, and the Ctrl-C comes once that is done."""
    path = target_file(tmp_path, '''
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ''', SERVE_HEALTH)
    install_stop_handlers()
    running = make_target(load_target_file(path)).start(context())
    assert running.pid is not None and running.temp_dir is not None
    ctrl_c = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    ctrl_c.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="stopped by signal SIGINT"):
            running.stop(grace=1.0)
    finally:
        ctrl_c.cancel()
    assert not psutil.pid_exists(running.pid) or psutil.Process(running.pid).status() == psutil.STATUS_ZOMBIE
    assert not running.temp_dir.exists()


def test_a_reparented_worker_is_still_found_by_its_run_marker(tmp_path: Path) -> None:
    path = target_file(tmp_path, '''
        import os, subprocess, sys
        # Double fork: the worker is re-parented away from the target's tree.
        if os.fork() == 0:
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
            os._exit(0)
        os.wait()
    ''', SERVE_HEALTH)
    running = make_target(load_target_file(path)).start(context())
    assert running.run_marker is not None
    orphans = marked_processes(running.run_marker)
    assert any(p.pid != running.pid for p in orphans)
    running.stop()
    assert not marked_processes(running.run_marker)


def test_the_target_gets_its_marker_and_rendered_config(tmp_path: Path) -> None:
    path = target_file(tmp_path, '''
        import json, os, sys
        config = json.load(open(sys.argv[2]))
        assert config == {"token": "t0k3n", "scale": 0.05, "tmp": os.environ["FL_TMP"]}, config
        assert os.environ["''' + MARKER_ENV + '''"]
    ''', SERVE_HEALTH,
        extra='env = { FL_TMP = "{{ temp_dir }}" }\n[config]\nfile = "c.json"\n'
              'template = \'{"token": {{ token | tojson }}, "scale": {{ time_scale }}, '
              '"tmp": {{ temp_dir | tojson }}}\'')
    text = path.read_text().replace('"{{ port }}"]', '"{{ port }}", "{{ config_file }}"]')
    path.write_text(text)
    running = make_target(load_target_file(path)).start(context())
    try:
        assert running.is_running()
    finally:
        running.stop()


def test_an_unknown_placeholder_is_a_target_file_error(tmp_path: Path) -> None:
    path = target_file(tmp_path, SERVE_HEALTH)
    path.write_text(path.read_text().replace("{{ port }}", "{{ prot }}"))
    with pytest.raises(TargetFileError) as caught:
        make_target(load_target_file(path)).start(context())
    assert caught.value.key == "process.command[2]" and "'prot' is undefined" in caught.value.problem


def test_a_missing_executable_is_reported_not_raised_raw(tmp_path: Path) -> None:
    path = target_file(tmp_path, SERVE_HEALTH)
    path.write_text(path.read_text().replace("{{ python }}", "/nonexistent/python9"))
    with pytest.raises(TargetStartError, match="cannot run '/nonexistent/python9'"):
        make_target(load_target_file(path)).start(context())


assert sys.platform.startswith("linux"), "process-tree tests rely on Linux /proc"
