"""The server as a process: toxiproxy-server's flags, a -config populate file, clean exit on signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fault_injection.toxiproxy.cli import parse_args
from tests.proxy.sockets import Upstream, connected, recv_exactly, wait_until


def test_single_and_double_dash_flags_are_accepted() -> None:
    single = parse_args(["-host", "127.0.0.1", "-port", "9000", "-config", "c.json", "-seed", "3"])
    double = parse_args(["--host", "127.0.0.1", "--port", "9000", "--config", "c.json", "--seed", "3"])
    assert single == double
    assert (single.host, single.port, single.config, single.seed) == ("127.0.0.1", 9000, "c.json", 3)
    assert parse_args([]).port == 8474 and parse_args([]).host == "localhost"


@pytest.fixture
def server_process(tmp_path: Path, free_port: int,
                   upstream: Upstream) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "from_config", "listen": "127.0.0.1:0",
                                   "upstream": upstream.address}]))
    process = subprocess.Popen(
        [sys.executable, "-m", "fault_injection.toxiproxy", "-host", "127.0.0.1", "-port", str(free_port),
         "-config", str(config), "-seed", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield process, f"http://127.0.0.1:{free_port}"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/version", timeout=1, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_the_config_then_exits_zero_on_signal(
        server_process: tuple[subprocess.Popen[bytes], str], upstream: Upstream, signum: int) -> None:
    process, url = server_process
    wait_until(lambda: _answers(url) or process.poll() is not None, timeout=15, what="the API")
    assert process.poll() is None
    proxy = httpx.get(url + "/proxies/from_config", trust_env=False).json()
    with connected(proxy["listen"], upstream) as (client, server):
        client.sendall(b"cfg")
        assert recv_exactly(server, 3) == b"cfg"
    process.send_signal(signum)
    assert process.wait(timeout=10) == 0
