"""The reference hive's HTTP surface (rbee-hive paths where rbee has them)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reference.common.http import CorrelationIdMiddleware, exception_handlers


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "alive"})


def build_app(config: dict[str, Any], time_scale: float) -> Starlette:
    return Starlette(routes=[Route("/v1/health", health, methods=["GET"])],
                     middleware=[Middleware(CorrelationIdMiddleware)],
                     exception_handlers=exception_handlers())
