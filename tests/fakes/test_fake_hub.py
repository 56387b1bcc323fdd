"""The fake model hub: metadata, deterministic downloads, ranges, scripted failures."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import httpx
import pytest

from harness.fakes import (
    Disconnect,
    HubModel,
    Reply,
    SyncHub,
    Transfer,
    file_bytes,
    file_sha256,
    script,
    statuses,
)
from harness.history import EventKind, History

TINY = HubModel("acme/tiny-llama", size_bytes=300_000, required_vram_mib=2048,
                extra_files={"config.json": 120})


def test_metadata_lists_files_with_sizes_and_required_vram(make_hub: Callable[..., SyncHub],
                                                          client: httpx.Client) -> None:
    hub = make_hub(TINY)
    body = client.get(hub.url + "/api/models/acme/tiny-llama").json()
    assert body["id"] == body["modelId"] == "acme/tiny-llama" and body["required_vram_mib"] == 2048
    assert body["siblings"] == [{"rfilename": "model.gguf", "size": 300_000},
                                {"rfilename": "config.json", "size": 120}]
    missing = client.get(hub.url + "/api/models/acme/nothing")
    assert missing.status_code == 404 and missing.headers["x-error-code"] == "RepoNotFound"


def test_download_streams_the_declared_deterministic_bytes(make_hub: Callable[..., SyncHub],
                                                           client: httpx.Client, history: History) -> None:
    hub = make_hub(TINY, name="hf1")
    hub.set_script(script(Transfer(chunk_size=50_000)))
    response = client.get(hub.url + "/acme/tiny-llama/resolve/main/model.gguf")
    assert response.status_code == 200 and response.headers["content-length"] == "300000"
    digest = file_sha256("acme/tiny-llama", "model.gguf", 300_000)
    assert hashlib.sha256(response.content).hexdigest() == digest == response.headers["etag"].strip('"')
    assert response.content[:64] == file_bytes("acme/tiny-llama", "model.gguf", 0, 64)
    assert history.wait_for(EventKind.RESPONSE, "hub:hf1", timeout=5)[0].data["chunks_sent"] == 6
    assert hub.requests[0].attempt == 1 and hub.requests[0].path == "/acme/tiny-llama/resolve/main/model.gguf"


def test_range_and_head_requests(make_hub: Callable[..., SyncHub], client: httpx.Client) -> None:
    hub = make_hub(TINY)
    url = hub.url + "/acme/tiny-llama/resolve/main/model.gguf"
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == "300000" and head.content == b""
    part = client.get(url, headers={"range": "bytes=1000-"})
    assert part.status_code == 206 and part.headers["content-range"] == "bytes 1000-299999/300000"
    assert part.content == file_bytes("acme/tiny-llama", "model.gguf", 1000, 300_000)
    assert client.get(url, headers={"range": "bytes=400000-"}).status_code == 416
    missing = client.get(hub.url + "/acme/tiny-llama/resolve/main/nope.bin")
    assert missing.status_code == 404 and missing.headers["x-error-code"] == "EntryNotFound"


def test_scripted_failures_then_success_per_channel(make_hub: Callable[..., SyncHub],
                                                    client: httpx.Client) -> None:
    hub = make_hub(TINY)
    hub.set_script(statuses(503, 429, 200, headers={"retry-after": "1"}))
    hub.set_script(script(Reply(500)), channel="metadata")
    url = hub.url + "/acme/tiny-llama/resolve/main/config.json"
    first, second, third = (client.get(url) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (503, 429, 200)
    assert first.headers["retry-after"] == "1" and first.json() == {"error": "HTTP 503"}
    assert len(third.content) == 120
    assert client.get(hub.url + "/api/models/acme/tiny-llama").status_code == 500
    assert [r.attempt for r in hub.requests] == [1, 2, 3, 1]


def test_a_download_cut_at_a_byte_offset(make_hub: Callable[..., SyncHub], client: httpx.Client,
                                         history: History) -> None:
    hub = make_hub(TINY)
    hub.set_script(script(Transfer(cut_after_bytes=120_000, chunk_size=50_000), Transfer()))
    url = hub.url + "/acme/tiny-llama/resolve/main/model.gguf"
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), client.stream("GET", url) as response:
        for data in response.iter_raw():
            received += data
    assert bytes(received) == file_bytes("acme/tiny-llama", "model.gguf", 0, 120_000)
    resumed = client.get(url, headers={"range": f"bytes={len(received)}-"})
    assert bytes(received) + resumed.content == file_bytes("acme/tiny-llama", "model.gguf", 0, 300_000)
    history.wait_for(EventKind.RESPONSE, "hub:hf", count=2, timeout=5)
    assert [e.data["outcome"] for e in history.events(EventKind.RESPONSE, "hub:hf")] == ["cut", "complete"]


def test_a_stalled_download_and_a_reset(make_hub: Callable[..., SyncHub], client: httpx.Client) -> None:
    hub = make_hub(TINY)
    hub.set_script(script(Transfer(stall_after_bytes=10_000), Disconnect()))
    url = hub.url + "/acme/tiny-llama/resolve/main/model.gguf"
    received = bytearray()
    with (pytest.raises(httpx.ReadTimeout),
          client.stream("GET", url, timeout=httpx.Timeout(10, read=0.3)) as response):
        for data in response.iter_raw():
            received += data
    assert len(received) == 10_000
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get(url)
    hub.wait_for_open_connections(0, timeout=5)


def test_a_hub_with_a_token_rejects_other_callers(make_hub: Callable[..., SyncHub],
                                                 client: httpx.Client) -> None:
    hub = make_hub(TINY, token="hf_secret")
    url = hub.url + "/api/models/acme/tiny-llama"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"authorization": "Bearer hf_secret"}).status_code == 200
    assert hub.requests[1].redacted_headers["authorization"] == "[REDACTED]"


def test_byte_faults_apply_to_metadata_too(make_hub: Callable[..., SyncHub],
                                           client: httpx.Client) -> None:
    hub = make_hub(TINY)
    hub.set_script(script(Transfer(stall_after_bytes=10), Reply(delay_before_headers=0.2)),
                   channel="metadata")
    url = hub.url + "/api/models/acme/tiny-llama"
    with pytest.raises(httpx.ReadTimeout):
        client.get(url, timeout=httpx.Timeout(10, read=0.3))
    started = time.monotonic()
    assert client.get(url).json()["required_vram_mib"] == 2048
    assert time.monotonic() - started >= 0.2
