"""`POST /populate`: validate every entry first, then add-or-replace in order (api_test.go Populate*)."""

from __future__ import annotations

import httpx

from tests.proxy.sockets import Upstream


def _entry(name: str, upstream: str, listen: str = "127.0.0.1:0", **extra: object) -> dict[str, object]:
    return {"name": name, "listen": listen, "upstream": upstream, **extra}


def test_populate_creates_enabled_proxies_and_returns_201(api: httpx.Client, upstream: Upstream) -> None:
    response = api.post("/populate", json=[_entry("one", upstream.address), _entry("two", upstream.address)])
    assert response.status_code == 201
    proxies = response.json()["proxies"]
    assert [p["name"] for p in proxies] == ["one", "two"]
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies)
    assert set(api.get("/proxies").json()) == {"one", "two"}


def test_populate_honours_enabled_false(api: httpx.Client, upstream: Upstream) -> None:
    response = api.post("/populate", json=[_entry("off", upstream.address, enabled=False)])
    assert response.json()["proxies"][0]["enabled"] is False


def test_populate_with_an_empty_list_returns_null_proxies(api: httpx.Client) -> None:
    response = api.post("/populate", json=[])
    assert response.status_code == 201 and response.json() == {"proxies": None}


def test_populate_keeps_an_identical_proxy_and_replaces_a_different_one(
        api: httpx.Client, upstream: Upstream) -> None:
    created = api.post("/populate", json=[_entry("same", upstream.address),
                                          _entry("moved", upstream.address)])
    same, moved = created.json()["proxies"]
    api.post("/proxies/same/toxics", json={"type": "latency"})
    api.post("/proxies/moved/toxics", json={"type": "latency"})
    again = api.post("/populate", json=[
        _entry("same", upstream.address, listen=same["listen"].replace("127.0.0.1", "localhost")),
        _entry("moved", "127.0.0.1:1", listen=moved["listen"]),
    ])
    assert again.status_code == 201
    kept, replaced = again.json()["proxies"]
    assert kept["listen"] == same["listen"] and len(kept["toxics"]) == 1  # untouched: toxic still there
    assert replaced["upstream"] == "127.0.0.1:1" and replaced["toxics"] == []


def test_populate_validates_all_entries_before_creating_any(api: httpx.Client, upstream: Upstream) -> None:
    response = api.post("/populate", json=[_entry("one", upstream.address), {"upstream": upstream.address}])
    assert response.status_code == 400
    assert response.json() == {"error": "missing required field: name at proxy 2", "status": 400,
                               "proxies": None}
    missing_upstream = api.post("/populate", json=[{"name": "x"}])
    assert missing_upstream.json()["error"] == "missing required field: upstream at proxy 1"
    assert api.get("/proxies").json() == {}


def test_populate_failure_midway_keeps_earlier_proxies(api: httpx.Client, upstream: Upstream) -> None:
    response = api.post("/populate", json=[
        _entry("one", upstream.address),
        _entry("two", upstream.address, listen="local373"),
        _entry("three", upstream.address),
    ])
    assert response.status_code == 500
    body = response.json()
    assert body["status"] == 500 and "local373" in body["error"]
    assert [p["name"] for p in body["proxies"]] == ["one"]
    assert set(api.get("/proxies").json()) == {"one"}


def test_populate_needs_an_array(api: httpx.Client) -> None:
    response = api.post("/populate", json={"name": "x"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("bad request body")
