"""Toxics reach connections that are already open, and no data is lost while they change
(upstream toxic_test.go TestPersistentConnections/ToxicAddRemove, link_test.go NoDataDropped)."""

from __future__ import annotations

import threading

import httpx

from fault_injection.toxiproxy import ProxyServer
from harness.portal import BackgroundLoop
from tests.proxy.sockets import (EchoServer, Stopwatch, Upstream, add_toxic, connect, connected,
                                 create_proxy, recv_exactly)




def test_toxics_apply_to_open_connections_when_added_and_removed(
        api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    with connected(listen, upstream) as (client, server):
        client.sendall(b"open")
        assert recv_exactly(server, 4) == b"open"
        add_toxic(api, "db", "latency", "downstream", latency=250)
        with Stopwatch() as slowed:
            server.sendall(b"slow")
            assert recv_exactly(client, 4) == b"slow"
        api.delete("/proxies/db/toxics/latency_downstream")
        with Stopwatch() as restored:
            server.sendall(b"fast")
            assert recv_exactly(client, 4) == b"fast"
    assert slowed.elapsed >= 0.24
    assert restored.elapsed < 0.15


def test_no_data_is_dropped_or_reordered_while_toxics_change(
        api: httpx.Client, echo: EchoServer) -> None:
    listen = create_proxy(api, "db", echo.address)
    payload = b"".join(b"%06d" % i for i in range(40_000))  # 240 kB, every offset recognisable
    received = bytearray()
    client = connect(listen)
    try:
        def read_all() -> None:
            while len(received) < len(payload):
                piece = client.recv(65536)
                if not piece:
                    return
                received.extend(piece)

        reader = threading.Thread(target=read_all)
        reader.start()
        try:
            for offset in range(0, len(payload), 8000):
                client.sendall(payload[offset:offset + 8000])
                step = offset // 8000
                if step % 6 == 1:
                    add_toxic(api, "db", "latency", "downstream", name=f"l{step}", latency=1)
                    add_toxic(api, "db", "slicer", "upstream", name=f"s{step}", average_size=3000,
                              size_variation=100)
                elif step % 6 == 4:
                    api.delete(f"/proxies/db/toxics/l{step - 3}")
                    api.delete(f"/proxies/db/toxics/s{step - 3}")
        finally:
            reader.join(timeout=10)
    finally:
        client.close()
    assert not reader.is_alive()
    assert bytes(received) == payload


def test_toxicity_zero_is_a_noop(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "timeout", "upstream", toxicity=0.0, timeout=0)
    with connected(listen, upstream) as (client, server):
        client.sendall(b"passes")
        assert recv_exactly(server, 6) == b"passes"


def _toxicity_pattern(background: BackgroundLoop, seed: int, upstream: Upstream) -> list[bool]:
    """Which of 12 connections got a half-toxic latency, on a fresh server with `seed`."""
    server = ProxyServer(seed=seed)
    background.call(server.start)
    try:
        with httpx.Client(base_url=server.url, trust_env=False) as api:
            listen = create_proxy(api, "db", upstream.address)
            add_toxic(api, "db", "latency", "downstream", toxicity=0.5, latency=150)
            pattern = []
            for _ in range(12):
                with connected(listen, upstream) as (client, conn):
                    with Stopwatch() as trip:
                        conn.sendall(b"?")
                        recv_exactly(client, 1)
                    pattern.append(trip.elapsed >= 0.12)
            return pattern
    finally:
        background.call(server.stop)


def test_a_seed_makes_toxicity_rolls_repeatable(background: BackgroundLoop, upstream: Upstream) -> None:
    first = _toxicity_pattern(background, 1234, upstream)
    again = _toxicity_pattern(background, 1234, upstream)
    assert first == again
    assert any(first) and not all(first)  # toxicity 0.5 really is rolled per link
