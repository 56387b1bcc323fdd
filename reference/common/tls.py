"""The TLS settings the references' HTTP clients verify upstreams with.

Made once per process, when this module is imported: loading the CA bundle costs about 50 ms of
CPU, and every client made with its own settings pays it again (the hive makes two at start, and
a reference starts once per scenario). A reference forked from a server that imported it
(harness/targets/forked.py) starts with it made.
"""

from __future__ import annotations

import httpx

UPSTREAM_TLS = httpx.create_ssl_context()
