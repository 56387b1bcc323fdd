"""A client that hangs up on a plain (non-streaming) request before its answer arrives.

The request goes out on a socket the harness owns, so a step can wait until the request has
reached the fake behind the system under test and then close the connection, as a client that
gives up does; no HTTP library sits in between deciding when, or whether, to close.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class HeldRequest:
    url: str
    sock: socket.socket
    sent_at: float        # time.monotonic() when the request had been written

    def hang_up(self) -> bytes:
        """Close the connection; returns what of an answer had arrived before (b"" when the
        client really hung up before its answer)."""
        early = b""
        self.sock.setblocking(False)
        try:
            early = self.sock.recv(4096)
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        finally:
            self.sock.close()
        return early


def send_and_hold(url: str, body: Mapping[str, Any], headers: Mapping[str, str],
                  timeout: float = 10.0) -> HeldRequest:
    """POST `body` as JSON and leave the answer unread."""
    parts = urlsplit(url)
    host, secure = parts.hostname or "127.0.0.1", parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    payload = json.dumps(dict(body)).encode()
    head = {"Host": parts.netloc, "Content-Type": "application/json", "Content-Length": str(len(payload)),
            "Connection": "close", **headers}
    request = (f"POST {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\n"
               + "".join(f"{name}: {value}\r\n" for name, value in head.items()) + "\r\n").encode() + payload
    sock = socket.create_connection((host, port), timeout=timeout)
    if secure:
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    sock.sendall(request)
    return HeldRequest(url, sock, time.monotonic())
