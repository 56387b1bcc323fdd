"""Network faults as the BDD steps see them: proxies between the SUT and its fakes, and toxics.

`ToxiproxyNetwork` speaks only Toxiproxy's public REST API, so it drives the embedded server
and a real Toxiproxy alike. It uses a small httpx client rather than toxiproxy-python because
that client keeps its host and port in class-level globals (one server per process, not
thread-safe), sets no request timeouts, cannot update toxics, and crashes with KeyError when
the server answers 500 (for example when a listen port is taken).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote

from harness.http_client import http_client

from fault_injection.toxics import ToxicSpec


class NetworkFaultError(RuntimeError):
    """The Toxiproxy API refused a request; `status` and `message` are its error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ProxyHandle:
    name: str
    listen: str    # host:port the SUT must connect to
    upstream: str  # host:port of the fake behind the proxy

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class NetworkFaults(Protocol):
    def create_proxy(self, name: str, upstream: str) -> ProxyHandle: ...

    def add_toxic(self, proxy_name: str, toxic: ToxicSpec) -> None: ...

    def remove_toxic(self, proxy_name: str, toxic_name: str) -> None: ...

    def set_enabled(self, proxy_name: str, enabled: bool) -> None: ...

    def reset(self) -> None: ...

    def delete_all(self) -> None: ...


class ToxiproxyNetwork:
    """`NetworkFaults` over a Toxiproxy API base URL, e.g. `http://127.0.0.1:8474`."""

    def __init__(self, base_url: str, timeout: float = 10.0, listen_host: str = "127.0.0.1") -> None:
        self._client = http_client(timeout, base_url=base_url, trust_env=False,
                                    headers={"User-Agent": "faultline"})
        self._listen_host = listen_host

    def create_proxy(self, name: str, upstream: str, listen: str | None = None) -> ProxyHandle:
        body = {"name": name, "upstream": upstream, "listen": listen or f"{self._listen_host}:0",
                "enabled": True}
        proxy = self._request("POST", "/proxies", json=body)
        return ProxyHandle(proxy["name"], proxy["listen"], proxy["upstream"])

    def add_toxic(self, proxy_name: str, toxic: ToxicSpec) -> None:
        self._request("POST", f"/proxies/{_seg(proxy_name)}/toxics", json=toxic.to_api())

    def update_toxic(self, proxy_name: str, toxic: ToxicSpec) -> None:
        body = {"attributes": toxic.attributes(), "toxicity": toxic.toxicity}
        self._request("POST", f"/proxies/{_seg(proxy_name)}/toxics/{_seg(toxic.name)}", json=body)

    def remove_toxic(self, proxy_name: str, toxic_name: str) -> None:
        self._request("DELETE", f"/proxies/{_seg(proxy_name)}/toxics/{_seg(toxic_name)}")

    def set_enabled(self, proxy_name: str, enabled: bool) -> None:
        # POST rather than PATCH: every Toxiproxy 2.x accepts it (PATCH came in 2.6).
        self._request("POST", f"/proxies/{_seg(proxy_name)}", json={"enabled": enabled})

    def reset(self) -> None:
        self._request("POST", "/reset")

    def delete_proxy(self, name: str) -> None:
        """Delete one proxy (its toxics and connections go with it); an absent one is fine."""
        try:
            self._request("DELETE", f"/proxies/{_seg(name)}")
        except NetworkFaultError as exc:
            if exc.status != 404:
                raise

    def delete_all(self) -> None:
        for name in self.proxies():
            self.delete_proxy(name)

    def proxies(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/proxies")
        return result

    def toxics(self, proxy_name: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", f"/proxies/{_seg(proxy_name)}/toxics")
        return result

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ToxiproxyNetwork:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _request(self, method: str, path: str, json: Any = None) -> Any:
        response = self._client.request(method, path, json=json)
        if response.status_code >= 400:
            try:
                message = str(response.json().get("error", response.text))
            except ValueError:
                message = response.text.strip()
            raise NetworkFaultError(response.status_code, message)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


def _seg(name: str) -> str:
    return quote(name, safe="")
