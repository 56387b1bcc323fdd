"""Toxiproxy's REST API (api.go `Routes()`) as a Starlette app.

Error bodies are JSON served as `text/plain; charset=utf-8` with a trailing newline, because
upstream writes them with Go's `http.Error`; clients in other languages rely on that.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fault_injection.toxiproxy import errors
from fault_injection.toxiproxy.errors import ApiError
from fault_injection.toxiproxy.registry import PopulateError, ProxyRegistry, ProxySpec, parse_spec

VERSION = "2.12.0"
REQUEST_ID_HEADER = b"x-toxiproxy-request-id"
Handler = Callable[[Request], Awaitable[Response]]


def json_response(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status, media_type="application/json")


def error_response(error: ApiError) -> Response:
    return Response(json.dumps(error.to_json(), separators=(",", ":")) + "\n", error.status,
                    media_type="text/plain; charset=utf-8", headers={"X-Content-Type-Options": "nosniff"})


async def read_json(request: Request) -> object:
    raw = await request.body()
    if not raw.strip():
        raise errors.BAD_REQUEST_BODY.joined("EOF")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.BAD_REQUEST_BODY.joined(str(exc)) from None


def build_app(registry: ProxyRegistry) -> ASGIApp:
    def handled(fn: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(request)
            except ApiError as exc:
                return error_response(exc)
        return endpoint

    async def proxy_index(request: Request) -> Response:
        return json_response({name: p.to_json() for name, p in registry.all().items()})

    async def proxy_create(request: Request) -> Response:
        spec = parse_spec(await read_json(request), default_enabled=True)
        proxy = await registry.add(spec if spec.listen else _loopback(spec))
        return json_response(proxy.to_json(), 201)

    async def populate(request: Request) -> Response:
        try:
            created = await registry.populate(await read_json(request))
        except ApiError as exc:
            return json_response({**exc.to_json(), "proxies": None}, exc.status)
        except PopulateError as exc:
            proxies = [p.to_json() for p in exc.created] or None
            return json_response({**exc.error.to_json(), "proxies": proxies}, exc.error.status)
        return json_response({"proxies": [p.to_json() for p in created] or None}, 201)

    async def proxy_show(request: Request) -> Response:
        return json_response(registry.get(request.path_params["proxy"]).to_json())

    async def proxy_update(request: Request) -> Response:
        proxy = registry.get(request.path_params["proxy"])
        async with proxy.lock:
            current = ProxySpec(proxy.name, proxy.listen, proxy.upstream, proxy.enabled)
            spec = parse_spec(await read_json(request), default_enabled=True, current=current)
            await proxy.update(spec.listen, spec.upstream, spec.enabled)
        return json_response(proxy.to_json())

    async def proxy_delete(request: Request) -> Response:
        await registry.remove(request.path_params["proxy"])
        return Response(status_code=204)

    async def toxic_index(request: Request) -> Response:
        proxy = registry.get(request.path_params["proxy"])
        return json_response([e.to_json() for e in proxy.toxics.all()])

    async def toxic_create(request: Request) -> Response:
        proxy = registry.get(request.path_params["proxy"])
        entry = await proxy.toxics.add_json(await read_json(request))
        return json_response(entry.to_json())

    async def toxic_show(request: Request) -> Response:
        proxy = registry.get(request.path_params["proxy"])
        return json_response(proxy.toxics.get(request.path_params["toxic"]).to_json())

    async def toxic_update(request: Request) -> Response:
        proxy = registry.get(request.path_params["proxy"])
        entry = await proxy.toxics.update_json(request.path_params["toxic"], await read_json(request))
        return json_response(entry.to_json())

    async def toxic_delete(request: Request) -> Response:
        proxy = registry.get(request.path_params["proxy"])
        await proxy.toxics.remove(request.path_params["toxic"])
        return Response(status_code=204)

    async def reset(request: Request) -> Response:
        for proxy in registry.all().values():
            async with proxy.lock:
                await proxy.set_enabled(True)
            await proxy.toxics.reset()
        return Response(status_code=204)

    async def version(request: Request) -> Response:
        return Response(f'{{"version": "{VERSION}"}}\n', media_type="application/json;charset=utf-8")

    routes = [
        Route("/reset", handled(reset), methods=["POST"]),
        Route("/proxies", handled(proxy_index), methods=["GET"]),
        Route("/proxies", handled(proxy_create), methods=["POST"]),
        Route("/populate", handled(populate), methods=["POST"]),
        Route("/proxies/{proxy}", handled(proxy_show), methods=["GET"]),
        Route("/proxies/{proxy}", handled(proxy_update), methods=["POST", "PATCH"]),
        Route("/proxies/{proxy}", handled(proxy_delete), methods=["DELETE"]),
        Route("/proxies/{proxy}/toxics", handled(toxic_index), methods=["GET"]),
        Route("/proxies/{proxy}/toxics", handled(toxic_create), methods=["POST"]),
        Route("/proxies/{proxy}/toxics/{toxic}", handled(toxic_show), methods=["GET"]),
        Route("/proxies/{proxy}/toxics/{toxic}", handled(toxic_update), methods=["POST", "PATCH"]),
        Route("/proxies/{proxy}/toxics/{toxic}", handled(toxic_delete), methods=["DELETE"]),
        Route("/version", handled(version), methods=["GET"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return Response("404 page not found\n", 404, media_type="text/plain; charset=utf-8")
        return Response(status_code=status)

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return _Toxiproxy(app)


def _loopback(spec: ProxySpec) -> ProxySpec:
    # Upstream listens on every interface when `listen` is empty; we stay on loopback.
    return ProxySpec(spec.name, "127.0.0.1:0", spec.upstream, spec.enabled)


class _Toxiproxy:
    """Request ids on every response, and browsers turned away (upstream's two middlewares)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = secrets.token_hex(10).encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                   (REQUEST_ID_HEADER, request_id)]}
            await send(message)

        agent = dict(scope.get("headers", [])).get(b"user-agent", b"")
        if agent.startswith(b"Mozilla/"):
            response = Response("User agent not allowed\n", 403, media_type="text/plain; charset=utf-8")
            await response(scope, receive, send_with_id)
            return
        await self._app(scope, receive, send_with_id)
