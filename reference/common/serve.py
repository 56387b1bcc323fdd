"""Run a reference app under uvicorn on 127.0.0.1, with a log line per start and stop."""

from __future__ import annotations

import logging
import sys

import uvicorn
from starlette.types import ASGIApp


def configure_logging(name: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"%(asctime)s {name} %(levelname)s %(message)s")


def serve(app: ASGIApp, host: str, port: int, shutdown_budget: float) -> None:
    """`shutdown_budget`: real seconds after SIGTERM before open requests are cut, so a hung
    upstream cannot hold the exit past the cleanup timeout."""
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                timeout_graceful_shutdown=shutdown_budget)
