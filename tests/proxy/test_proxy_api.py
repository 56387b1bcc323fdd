"""REST API routes, status codes and error bodies, as upstream's api_test.go defines them."""

from __future__ import annotations

import socket

import httpx

from tests.proxy.sockets import Upstream, create_proxy


def test_every_response_carries_a_request_id(api: httpx.Client) -> None:
    assert api.get("/proxies").headers["X-Toxiproxy-Request-Id"]
    assert api.get("/no/such/route").headers["X-Toxiproxy-Request-Id"]


def test_browsers_get_403_and_other_agents_200(api: httpx.Client) -> None:
    browser = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert browser.status_code == 403
    assert browser.text == "User agent not allowed\n"
    assert api.get("/proxies", headers={"User-Agent": "curl/8.0"}).status_code == 200


def test_index_with_no_proxies_is_an_empty_object(api: httpx.Client) -> None:
    response = api.get("/proxies")
    assert response.status_code == 200
    assert response.json() == {}


def test_create_returns_201_with_the_resolved_listen_address(api: httpx.Client, upstream: Upstream) -> None:
    response = api.post("/proxies", json={"name": "db", "listen": "localhost:0",
                                          "upstream": upstream.address})
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "db" and body["upstream"] == upstream.address
    assert body["enabled"] is True and body["toxics"] == []
    host, port = body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert api.get("/proxies/db").json() == body
    assert api.get("/proxies").json() == {"db": body}


def test_missing_fields_are_400_with_upstream_messages(api: httpx.Client) -> None:
    for body, field in (({"upstream": "127.0.0.1:1"}, "name"), ({"name": "x"}, "upstream")):
        response = api.post("/proxies", json=body)
        assert response.status_code == 400
        assert response.json() == {"error": f"missing required field: {field}", "status": 400}


def test_error_bodies_are_json_served_as_text_plain(api: httpx.Client) -> None:
    response = api.get("/proxies/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == '{"error":"proxy not found","status":404}\n'


def test_bad_json_is_400_bad_request_body(api: httpx.Client) -> None:
    response = api.post("/proxies", content=b"{not json")
    assert response.status_code == 400
    assert response.json()["error"].startswith("bad request body: ")
    assert api.post("/proxies", json={"name": 5, "upstream": "x:1"}).status_code == 400


def test_name_conflict_is_409(api: httpx.Client, upstream: Upstream) -> None:
    create_proxy(api, "db", upstream.address)
    response = api.post("/proxies", json={"name": "db", "listen": "127.0.0.1:0",
                                          "upstream": upstream.address})
    assert response.status_code == 409
    assert response.json() == {"error": "proxy already exists", "status": 409}


def test_port_conflict_is_500_with_the_bind_error(api: httpx.Client, upstream: Upstream) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        response = api.post("/proxies", json={"name": "db", "listen": f"127.0.0.1:{port}",
                                              "upstream": upstream.address})
    assert response.status_code == 500
    assert response.json() == {"error": f"listen tcp 127.0.0.1:{port}: bind: address already in use",
                               "status": 500}
    assert api.get("/proxies").json() == {}


def test_disabled_proxy_can_be_created_then_enabled(api: httpx.Client, upstream: Upstream) -> None:
    created = api.post("/proxies", json={"name": "db", "listen": "127.0.0.1:0",
                                         "upstream": upstream.address, "enabled": False})
    assert created.status_code == 201 and created.json()["enabled"] is False
    enabled = api.patch("/proxies/db", json={"enabled": True})
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    # The deprecated POST form updates too.
    assert api.post("/proxies/db", json={"enabled": False}).json()["enabled"] is False


def test_update_keeps_absent_fields(api: httpx.Client, upstream: Upstream) -> None:
    listen = create_proxy(api, "db", upstream.address)
    body = api.patch("/proxies/db", json={"upstream": "127.0.0.1:1"}).json()
    assert body["upstream"] == "127.0.0.1:1" and body["listen"] == listen and body["enabled"] is True
    assert api.patch("/proxies/nope", json={}).status_code == 404


def test_delete_is_204_then_404(api: httpx.Client, upstream: Upstream) -> None:
    create_proxy(api, "db", upstream.address)
    response = api.delete("/proxies/db")
    assert response.status_code == 204 and response.content == b""
    assert api.delete("/proxies/db").status_code == 404
    assert api.get("/proxies").json() == {}


def test_toxic_create_is_200_with_defaults(api: httpx.Client, upstream: Upstream) -> None:
    create_proxy(api, "db", upstream.address)
    response = api.post("/proxies/db/toxics", json={"type": "latency", "attributes": {"latency": 5}})
    assert response.status_code == 200
    assert response.json() == {"attributes": {"latency": 5, "jitter": 0}, "name": "latency_downstream",
                               "type": "latency", "stream": "downstream", "toxicity": 1.0}
    assert api.get("/proxies/db/toxics/latency_downstream").json() == response.json()
    assert api.get("/proxies/db").json()["toxics"] == [response.json()]


def test_explicit_zero_toxicity_is_kept_and_noop_is_a_type(api: httpx.Client, upstream: Upstream) -> None:
    create_proxy(api, "db", upstream.address)
    zero = api.post("/proxies/db/toxics", json={"type": "latency", "toxicity": 0})
    assert zero.json()["toxicity"] == 0
    noop = api.post("/proxies/db/toxics", json={"type": "noop", "stream": "UPSTREAM"})
    assert noop.status_code == 200 and noop.json()["name"] == "noop_UPSTREAM"


def test_toxic_names_are_unique_across_streams(api: httpx.Client, upstream: Upstream) -> None:
    create_proxy(api, "db", upstream.address)
    first = {"name": "slow", "type": "latency", "stream": "upstream"}
    assert api.post("/proxies/db/toxics", json=first).status_code == 200
    conflict = api.post("/proxies/db/toxics", json={**first, "stream": "downstream"})
    assert conflict.status_code == 409
    assert conflict.json() == {"error": "toxic already exists", "status": 409}
    # Default names differ per stream, so the same type may sit on both streams.
    assert api.post("/proxies/db/toxics", json={"type": "latency", "stream": "upstream"}).status_code == 200
    assert api.post("/proxies/db/toxics", json={"type": "latency"}).status_code == 200
    assert api.post("/proxies/db/toxics", json={"type": "latency"}).status_code == 409


def test_toxic_list_is_upstream_chain_then_downstream_chain(api: httpx.Client, upstream: Upstream) -> None:
    create_proxy(api, "db", upstream.address)
    for name, stream in (("d1", "downstream"), ("u1", "upstream"), ("d2", "downstream"), ("u2", "upstream")):
        api.post("/proxies/db/toxics", json={"name": name, "type": "noop", "stream": stream})
    assert [t["name"] for t in api.get("/proxies/db/toxics").json()] == ["u1", "u2", "d1", "d2"]


def test_invalid_stream_type_and_attributes_are_400(api: httpx.Client, upstream: Upstream) -> None:
    create_proxy(api, "db", upstream.address)
    stream = api.post("/proxies/db/toxics", json={"type": "latency", "stream": "sideways"})
    assert stream.json() == {"error": "stream was invalid, can be either upstream or downstream",
                             "status": 400}
    kind = api.post("/proxies/db/toxics", json={"type": "explode"})
    assert kind.json() == {"error": "invalid toxic type", "status": 400}
    attribute = api.post("/proxies/db/toxics", json={"type": "latency", "attributes": {"latency": "1s"}})
    assert attribute.status_code == 400
    assert attribute.json()["error"].startswith("bad request body: ")
    assert api.post("/proxies/nope/toxics", json={"type": "latency"}).status_code == 404


def test_toxic_update_merges_attributes_and_keeps_toxicity(api: httpx.Client, upstream: Upstream) -> None:
    create_proxy(api, "db", upstream.address)
    api.post("/proxies/db/toxics", json={"type": "latency", "attributes": {"latency": 100, "jitter": 10}})
    updated = api.patch("/proxies/db/toxics/latency_downstream",
                        json={"toxicity": 0.5, "attributes": {"latency": 1000}})
    assert updated.status_code == 200
    assert updated.json()["attributes"] == {"latency": 1000, "jitter": 10}
    assert updated.json()["toxicity"] == 0.5
    again = api.post("/proxies/db/toxics/latency_downstream", json={"attributes": {"jitter": 3}})
    assert again.json()["attributes"] == {"latency": 1000, "jitter": 3} and again.json()["toxicity"] == 0.5
    assert api.patch("/proxies/db/toxics/nope", json={}).status_code == 404


def test_toxic_delete_is_204_then_404(api: httpx.Client, upstream: Upstream) -> None:
    create_proxy(api, "db", upstream.address)
    api.post("/proxies/db/toxics", json={"type": "latency"})
    assert api.delete("/proxies/db/toxics/latency_downstream").status_code == 204
    missing = api.delete("/proxies/db/toxics/latency_downstream")
    assert missing.json() == {"error": "toxic not found", "status": 404}
    assert api.get("/proxies/db/toxics").json() == []


def test_reset_enables_proxies_and_removes_toxics_but_keeps_proxies(
        api: httpx.Client, upstream: Upstream) -> None:
    create_proxy(api, "db", upstream.address)
    api.post("/proxies/db/toxics", json={"type": "latency", "stream": "upstream"})
    api.patch("/proxies/db", json={"enabled": False})
    response = api.post("/reset")
    assert response.status_code == 204
    proxy = api.get("/proxies/db").json()
    assert proxy["enabled"] is True and proxy["toxics"] == []
    assert api.post("/reset").status_code == 204


def test_version_is_the_json_form(api: httpx.Client) -> None:
    response = api.get("/version")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.text.endswith("}\n") and "version" in response.json()


def test_unknown_routes_are_404_and_wrong_methods_405(api: httpx.Client) -> None:
    missing = api.get("/nothing/here")
    assert missing.status_code == 404 and missing.text == "404 page not found\n"
    assert api.put("/proxies").status_code == 405
    assert api.get("/reset").status_code == 405
