"""Toxics that shape timing: latency, bandwidth, slow_close, slicer (upstream toxics/*_test.go).

Bounds are generous for a noisy CI box, yet each one fails if the toxic were absent.
"""

from __future__ import annotations

import statistics
import time

import httpx

from tests.proxy.sockets import (Stopwatch, Upstream, add_toxic, connected, create_proxy, recv_exactly,
                                 recv_pieces, recv_until_closed)


def test_downstream_latency_delays_server_to_client_only(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "latency", "downstream", latency=200)
    with connected(listen, upstream) as (client, server):
        with Stopwatch() as up:
            client.sendall(b"ping")
            assert recv_exactly(server, 4) == b"ping"
        with Stopwatch() as down:
            server.sendall(b"pong")
            assert recv_exactly(client, 4) == b"pong"
    assert up.elapsed < 0.15
    assert 0.19 <= down.elapsed < 0.8


def test_upstream_latency_delays_client_to_server(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "latency", "upstream", latency=200)
    with connected(listen, upstream) as (client, server):
        with Stopwatch() as up:
            client.sendall(b"ping")
            assert recv_exactly(server, 4) == b"ping"
    assert 0.19 <= up.elapsed < 0.8


def test_latency_is_counted_from_each_chunk_arrival_not_cumulatively(
        api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "latency", "upstream", latency=200)
    with connected(listen, upstream) as (client, server):
        with Stopwatch() as burst:
            for _ in range(5):
                client.sendall(b"x" * 10)
                time.sleep(0.01)  # separate TCP segments, not a wait for a condition
            assert recv_exactly(server, 50) == b"x" * 50
    # Five chunks each delayed 200 ms would take a second if the delays added up.
    assert 0.19 <= burst.elapsed < 0.7


def test_two_latency_toxics_add_up(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "latency", "downstream", name="first", latency=150)
    add_toxic(api, "db", "latency", "downstream", name="second", latency=150)
    with connected(listen, upstream) as (client, server):
        with Stopwatch() as down:
            server.sendall(b"pong")
            assert recv_exactly(client, 4) == b"pong"
    assert 0.29 <= down.elapsed < 1.0


def test_jitter_stays_within_its_bounds(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "latency", "downstream", latency=100, jitter=50)
    samples = []
    with connected(listen, upstream) as (client, server):
        for _ in range(5):
            with Stopwatch() as round_trip:
                server.sendall(b"p")
                recv_exactly(client, 1)
            samples.append(round_trip.elapsed)
    assert all(0.045 <= s < 0.6 for s in samples), samples


def test_bandwidth_limits_the_rate(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "bandwidth", "downstream", rate=100)  # 100 KB/s
    payload = b"b" * 50_000
    with connected(listen, upstream) as (client, server):
        with Stopwatch() as transfer:
            server.sendall(payload)
            assert recv_exactly(client, len(payload)) == payload
    # 50 KB at 100 KB/s is 0.5 s; unthrottled loopback takes a millisecond.
    assert 0.4 <= transfer.elapsed < 1.5


def test_bandwidth_sends_big_chunks_in_100ms_slices(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "bandwidth", "downstream", rate=20)  # 2000 bytes per 100 ms slice
    with connected(listen, upstream) as (client, server):
        server.sendall(b"s" * 6000)
        with Stopwatch() as transfer:
            pieces = recv_pieces(client, 6000)
    assert sum(map(len, pieces)) == 6000
    # Three slices 100 ms apart: several reads, spread over at least two slice intervals.
    assert len(pieces) >= 2 and statistics.median(map(len, pieces)) <= 2000
    assert transfer.elapsed >= 0.18


def test_slow_close_delays_the_close_not_the_data(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "slow_close", "downstream", delay=300)
    with connected(listen, upstream) as (client, server):
        with Stopwatch() as data:
            server.sendall(b"bye")
            assert recv_exactly(client, 3) == b"bye"
        with Stopwatch() as close:
            server.close()
            assert recv_until_closed(client) == b""
    assert data.elapsed < 0.2
    assert 0.29 <= close.elapsed < 1.2


def test_slicer_cuts_a_chunk_into_small_pieces(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    add_toxic(api, "db", "slicer", "downstream", average_size=10, size_variation=4, delay=20_000)
    payload = bytes(range(100))
    with connected(listen, upstream) as (client, server):
        server.sendall(payload)
        pieces = recv_pieces(client, len(payload))
    assert b"".join(pieces) == payload
    # 20 ms apart, the pieces arrive as separate reads (a stalled reader may merge a few).
    assert len(pieces) >= 5 and statistics.median(map(len, pieces)) <= 14
