"""The reference gateway's HTTP surface."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reference.common.http import EXCEPTION_HANDLERS, CorrelationIdMiddleware


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def build_app(config: dict[str, Any], time_scale: float) -> Starlette:
    return Starlette(routes=[Route("/health", health, methods=["GET"])],
                     middleware=[Middleware(CorrelationIdMiddleware)],
                     exception_handlers=EXCEPTION_HANDLERS)
