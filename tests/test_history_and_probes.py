"""History recording across threads, and the leak probes against real processes and sockets."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

from harness.asgi_server import serve_app
from harness.history import EventKind, History
from harness.portal import BackgroundLoop
from harness.probes import (listening_ports, open_connections, processes_of_tree, processes_with_argument,
                            temp_dir_contents)


def test_history_records_from_many_threads_in_order_and_mirrors_to_json_lines(tmp_path: Path) -> None:
    history = History(tmp_path / "h.jsonl")
    threads = [threading.Thread(target=lambda i=i: [history.record(EventKind.REQUEST, f"provider:p{i}", n=n)
                                                    for n in range(50)]) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history.close()
    events = history.events(EventKind.REQUEST)
    assert len(events) == 200
    assert [e.t for e in events] == sorted(e.t for e in events)
    assert len(history.events(source="provider")) == 200 and len(history.events(source="provider:p1")) == 50
    lines = (tmp_path / "h.jsonl").read_text().splitlines()
    assert len(lines) == 200 and json.loads(lines[0])["kind"] == "request"


def test_wait_for_returns_when_the_event_arrives() -> None:
    history = History()
    timer = threading.Timer(0.05, lambda: history.record(EventKind.PROCESS_EXIT, "target:x", exit_code=0))
    timer.start()
    events = history.wait_for(EventKind.PROCESS_EXIT, "target:x", timeout=5)
    assert events and events[0].data["exit_code"] == 0
    assert history.wait_for(EventKind.REQUEST, timeout=0.05) == []


def test_process_probes_find_a_worker_by_id_and_by_tree() -> None:
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--worker-id", "w-probe-1"])
    try:
        found = processes_with_argument("--worker-id", "w-probe-1")
        assert [p.pid for p in found] == [worker.pid]
        assert worker.pid in {p.pid for p in processes_of_tree(__import__("os").getpid())}
    finally:
        worker.kill()
        worker.wait()
    assert processes_with_argument("--worker-id", "w-probe-1") == []


def test_listening_ports_sees_a_held_port_and_forgets_a_released_one() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    assert listening_ports([port]) == {port}
    sock.close()
    assert listening_ports([port]) == set()


def test_temp_dir_contents_lists_leftovers(tmp_path: Path) -> None:
    assert temp_dir_contents(tmp_path / "absent") == []
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "model.part").write_text("x")
    assert temp_dir_contents(tmp_path) == ["a", "a/model.part"]


def test_open_connections_counts_opens_without_closes() -> None:
    history = History()
    for _ in range(3):
        history.record(EventKind.CONNECTION_OPEN, "provider:a")
    history.record(EventKind.CONNECTION_CLOSE, "provider:a")
    assert open_connections(history, "provider:a") == 2


def test_background_loop_serves_an_app_and_stops_it() -> None:
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    import httpx

    with BackgroundLoop() as loop:
        served = loop.call(serve_app, app)
        assert httpx.get(served.url).status_code == 204
        loop.call(served.stop)
        assert listening_ports([served.port]) == set()
