"""The part every fake shares: an ASGI server that follows a plan per request and records it.

A subclass turns each request into a `Routed` (which scripted attempt it is, and the `Plan` of
bytes and faults to answer with); this module executes the plan on the wire, watching for the
client going away, and writes REQUEST / RESPONSE events and typed request records.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from harness.asgi_server import ServedApp, serve_app
from harness.fakes.connections import ConnectionTracker, Peer, close_transport, tracking_protocol
from harness.fakes.script import Script, ScriptReply
from harness.history import EventKind, Recorder

SECRET_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "proxy-authorization",
                            "cookie", "api-key"})
SECRET_QUERY = frozenset({"key", "api_key", "token"})
REDACTED = "[REDACTED]"
_CLOSE_WAIT = 5.0


@dataclass(frozen=True)
class Incoming:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]          # lower-case names, secrets included: for auth checks only
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass(frozen=True)
class Chunk:
    data: bytes
    delay: float = 0.0


@dataclass(frozen=True)
class Plan:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    chunks: Iterable[Chunk] = ()
    delay_before_headers: float = 0.0
    cut_after: int | None = None        # chunks written before the connection is closed
    stall_after: int | None = None      # chunks written before going silent
    reset: bool = False
    disconnect: bool = False            # answer nothing at all and close
    hang: bool = False                  # answer nothing at all and keep the connection open


@dataclass(frozen=True)
class Routed:
    plan: Plan
    reply: str                          # what was chosen, for the history
    attempt: int | None = None          # 1-based count of scripted requests since set_script
    stream: bool = False
    # What the first n chunks of the plan carried (a provider's text and tool calls), recorded
    # with the outcome, so a step can compare what a client got with what was really sent.
    content_sent: Callable[[int], Mapping[str, Any]] | None = None
    # False for a request outside the routes a client's call reaches (the fake answers it, as the
    # real service would, but it is the implementation's own request, not an attempt).
    counted: bool = True


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the fake received it. Headers and query are kept as sent, secrets included, so
    steps can judge which credentials reached the fake; they stay out of the repr, and whatever is
    written to reports or evidence uses the redacted views."""

    t: float
    method: str
    path: str
    query: Mapping[str, str] = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)
    json: Any
    stream: bool
    attempt: int | None
    reply: str
    connection: int | None

    @property
    def redacted_headers(self) -> dict[str, str]:
        return redact(self.headers)

    @property
    def redacted_query(self) -> dict[str, str]:
        return redact(self.query, SECRET_QUERY)


def json_plan(status: int, body: object, headers: Mapping[str, str] | None = None,
              delay_before_headers: float = 0.0) -> Plan:
    data = json.dumps(body).encode()
    merged = {"content-type": "application/json", **(headers or {}), "content-length": str(len(data))}
    return Plan(status, merged, (Chunk(data),), delay_before_headers)


class FakeServer:
    """Base of the fakes: start/stop, script cursor, connection tracking and recording."""

    def __init__(self, source: str, recorder: Recorder) -> None:
        self.source = source
        self._recorder = recorder
        self._tracker = ConnectionTracker(recorder, source)
        self._lock = threading.Lock()
        self._scripts: dict[str, Script] = {}
        self._attempts: dict[str, int] = {}
        self._requests: list[RecordedRequest] = []
        self._own_requests: list[RecordedRequest] = []
        self._served: ServedApp | None = None
        self._stopping: asyncio.Event | None = None
        self._in_flight = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = asyncio.Event()
        # proxy_headers off: scope["client"] must stay the TCP peer, the key to its connection.
        self._served = await serve_app(self._app, http=tracking_protocol(self._tracker), interface="asgi3",
                                       proxy_headers=False, server_header=False)

    async def stop(self) -> None:
        if self._served is None or self._stopping is None:
            return
        self._stopping.set()
        self._tracker.abort_all()
        await self._served.stop()
        self._tracker.abort_all()
        deadline = time.monotonic() + _CLOSE_WAIT
        while (self._in_flight or self._tracker.count()) and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        self._served = None

    @property
    def url(self) -> str:
        if self._served is None:
            raise RuntimeError(f"{self.source} is not running")
        return self._served.url

    # -- scripting -------------------------------------------------------------------------
    def set_script(self, script: Script, channel: str = "default") -> None:
        with self._lock:
            self._scripts[channel] = script
            self._attempts[channel] = 0

    def next_reply(self, channel: str = "default") -> tuple[int, ScriptReply]:
        with self._lock:
            index = self._attempts.get(channel, 0)
            self._attempts[channel] = index + 1
            return index + 1, self._scripts.get(channel, Script()).reply_for(index)

    # -- observation -----------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests a client's call led to: each an attempt at a route the fake serves."""
        with self._lock:
            return list(self._requests)

    @property
    def own_requests(self) -> list[RecordedRequest]:
        """The requests to any other route: the implementation's own (model listings, probes)."""
        with self._lock:
            return list(self._own_requests)

    def open_connections(self) -> int:
        """Open connections a client's call may hold: not those that carried only the
        implementation's own requests (a model listing's pooled connection is no attempt's)."""
        return self._tracker.count_for_calls()

    def open_own_connections(self) -> int:
        """Open connections that carried only the implementation's own requests."""
        return self._tracker.count_own_only()

    def open_idle_connections(self) -> int:
        """Open connections whose last attempt got its whole answer: kept alive for reuse, not
        broken or stalled ones."""
        return self._tracker.count_idle()

    def total_connections(self) -> int:
        return self._tracker.total

    # -- to be provided by each fake -------------------------------------------------------
    def route(self, request: Incoming) -> Routed:
        raise NotImplementedError

    # -- the ASGI application ---------------------------------------------------------------
    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self._in_flight += 1
        try:
            await self._handle(scope, receive, send)
        finally:
            self._in_flight -= 1

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = _incoming(scope, bytes(body))
        routed = self.route(request)
        client = scope.get("client")
        peer: Peer | None = (str(client[0]), int(client[1])) if client else None
        connection = self._tracker.connection_id(peer)
        self._tracker.carried(peer, attempt=routed.counted)
        kind = EventKind.REQUEST if routed.counted else EventKind.OWN_REQUEST
        event = self._recorder.record(kind, self.source, method=request.method,
                                      path=request.path, attempt=routed.attempt, reply=routed.reply,
                                      stream=routed.stream, connection=connection)
        with self._lock:
            (self._requests if routed.counted else self._own_requests).append(RecordedRequest(
                event.t, request.method, request.path, dict(request.query), dict(request.headers),
                request.json(), routed.stream, routed.attempt, routed.reply, connection))
        started = event.t

        def report(status: int | None, outcome: str, sent: int, silent_since: float | None = None) -> None:
            if not routed.counted:
                return
            self._tracker.answered(peer, complete=outcome == "complete")
            content = {} if routed.content_sent is None else {"content_sent": dict(routed.content_sent(sent))}
            self._recorder.record(EventKind.RESPONSE, self.source, path=request.path, attempt=routed.attempt,
                                  status=status, outcome=outcome, chunks_sent=sent,
                                  duration=time.monotonic() - started,
                                  silent_since=silent_since, **content)

        gone = asyncio.Event()
        watcher = asyncio.ensure_future(_watch_disconnect(receive, gone))
        try:
            await self._execute(routed.plan, send, gone, peer, report, started)
        finally:
            watcher.cancel()

    async def _execute(self, plan: Plan, send: Any, gone: asyncio.Event, peer: Peer | None,
                       report: Callable[..., None], arrived: float) -> None:
        """Answer with `plan`; `report` the outcome once, before the last thing the client can see
        (the final byte, or the close), so a client never observes an unrecorded outcome. A reply
        the client gave up on while it was silent reports since when (`arrived`: it never began)."""
        assert self._stopping is not None
        stopping = self._stopping

        async def close(status: int | None, sent: int) -> None:
            report(status, "reset" if plan.reset else "cut" if status else "disconnected", sent)
            await self._close(peer, gone, plan.reset)

        async def go_silent(status: int | None, prefix: str, sent: int) -> None:
            since = time.monotonic()
            await _pause(None, gone, stopping)
            report(status, prefix + await self._interrupted(peer, gone), sent, since)

        if await _pause(plan.delay_before_headers, gone, stopping):
            # Silent since the request arrived: how long the client waited before it gave up.
            report(None, await self._interrupted(peer, gone), 0, arrived)
            return
        if plan.hang:
            return await go_silent(None, "hung, ", 0)
        if plan.disconnect:
            return await close(None, 0)
        headers = [(k.encode(), v.encode()) for k, v in plan.headers.items()]
        await send({"type": "http.response.start", "status": plan.status, "headers": headers})
        sent = 0
        chunks = iter(plan.chunks)
        chunk = next(chunks, None)
        while True:
            if _reached(plan.cut_after, sent):
                return await close(plan.status, sent)
            if _reached(plan.stall_after, sent):
                return await go_silent(plan.status, "stalled, ", sent)
            if chunk is None:
                break
            if await _pause(chunk.delay, gone, stopping):
                report(plan.status, await self._interrupted(peer, gone), sent)
                return
            following = next(chunks, None)
            final = following is None and not _reached(plan.cut_after, sent + 1) \
                and not _reached(plan.stall_after, sent + 1)
            if final:
                report(plan.status, "client disconnected" if gone.is_set() else "complete", sent + 1)
            await send({"type": "http.response.body", "body": chunk.data, "more_body": not final})
            sent += 1
            if final:
                return
            chunk = following
        report(plan.status, "client disconnected" if gone.is_set() else "complete", sent)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _close(self, peer: Peer | None, gone: asyncio.Event, reset: bool) -> None:
        transport = self._tracker.transport_for(peer)
        if transport is not None:
            close_transport(transport, reset=reset)
        # Returning before uvicorn notices the close would make it log an incomplete response.
        await _pause(_CLOSE_WAIT, gone)

    async def _interrupted(self, peer: Peer | None, gone: asyncio.Event) -> str:
        # Stopping aborts every connection, so "gone" follows; the stop is the cause to report.
        if self._stopping is not None and self._stopping.is_set():
            await self._close(peer, gone, reset=False)
            return "server stopped"
        return "client disconnected"



def _reached(limit: int | None, sent: int) -> bool:
    return limit is not None and sent >= limit


async def _watch_disconnect(receive: Any, gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


async def _pause(seconds: float | None, *events: asyncio.Event) -> bool:
    """Wait `seconds` (None: forever); True when one of `events` is set first."""
    if seconds is not None and seconds <= 0:
        return any(e.is_set() for e in events)
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)


def _incoming(scope: dict[str, Any], body: bytes) -> Incoming:
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    return Incoming(scope["method"], scope["path"], query, headers, body)


def redact(values: Mapping[str, str], secrets: frozenset[str] = SECRET_HEADERS) -> dict[str, str]:
    return {k: REDACTED if k in secrets else v for k, v in values.items()}
