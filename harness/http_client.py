"""The harness's own HTTP clients: plain HTTP to targets and fakes on loopback.

httpx builds a TLS context for every client, loading the whole CA bundle (tens of ms of CPU),
even for a client that never speaks TLS. The harness opens a client per exchange, and on a busy
worker that CPU delayed the event loop the fakes run on, and with it the arrival times they
stamp (a 20-70 ms late stamp fails a retry-schedule check). One context, built once, serves all.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx


@functools.cache
def _shared_tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def http_client(timeout: float | httpx.Timeout, **options: Any) -> httpx.Client:
    """An httpx client with `timeout` and the shared TLS context."""
    return httpx.Client(timeout=timeout, verify=_shared_tls(), **options)
