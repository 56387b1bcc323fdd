"""An embedded server that speaks Toxiproxy's REST API and toxics (anchors §1), on asyncio.

Layout: `api` (routes, statuses, error bodies) over `registry` (proxies, /populate) over
`proxy` (listener, connections) over `connection` / `link` / `stub` (the data pipeline), with
one module per toxic under `toxics/`.

Where it knowingly differs from Toxiproxy 2.12:
- `-seed` works: toxicity rolls, jitter and slicer cuts come from per-connection generators
  derived from the seed, so a sequence of connections behaves the same on every run.
- Attributes are validated: a negative value, or a slicer `average_size` below 1 or
  `size_variation >= average_size`, is a 400 (upstream stalls, panics or recurses forever).
- An empty `listen` binds 127.0.0.1:0 (upstream binds every interface).
- No 25 s handler timeout (503) and no `/metrics`.
"""

from __future__ import annotations

from fault_injection.toxiproxy.api import VERSION
from fault_injection.toxiproxy.server import ProxyServer

__all__ = ["VERSION", "ProxyServer"]
