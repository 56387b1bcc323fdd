"""One attempt against one provider: an HTTP exchange read as normalised events.

Each attempt has its own connection (no keep-alive), closed when the attempt ends, so "the
upstream connection was closed" is something a fake provider can observe, not a pool's secret.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import httpx

from reference.gateway.classify import BEFORE_RESPONSE, CONNECT, MID_STREAM, Classification, Classifier
from reference.gateway.config import ProviderConfig, Timeouts
from reference.gateway.wire import WIRES
from reference.gateway.wire.base import MalformedStream, Wire, read_sse
from reference.gateway.wire.events import ChatRequest, Event, Finish, ProviderStreamError, Transcript
from reference.common.tls import UPSTREAM_TLS

CANNOT_STREAM_MARKERS = ("cannot use tools with stream", "streaming is not supported", "stream not supported")


@dataclass
class AttemptFailed(Exception):
    reason: str
    classification: Classification
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    transcript: Transcript = field(default_factory=Transcript)
    cannot_stream: bool = False

    def __str__(self) -> str:
        return self.reason


class UpstreamCall:
    def __init__(self, client: httpx.AsyncClient, provider: ProviderConfig, chat: ChatRequest, stream: bool,
                 timeouts: Timeouts, scale: float, classifier: Classifier, correlation_id: str,
                 wire: Wire | None = None, transcript: Transcript | None = None) -> None:
        self.provider, self.chat, self.stream = provider, chat, stream
        self.wire = wire or WIRES[provider.kind]
        self.classifier = classifier
        self.transcript = transcript or Transcript()
        self.correlation_id = correlation_id
        self.timeouts, self.scale = timeouts, scale
        self._client = client
        self._response: httpx.Response | None = None
        self._events: AsyncIterator[Event] | None = None

    def timeout(self) -> httpx.Timeout:
        """The upstream timeout bounds the wait for the response and every gap between chunks."""
        return httpx.Timeout(self.timeouts.upstream * self.scale, connect=self.timeouts.connect * self.scale)

    def headers(self, wire_headers: Mapping[str, str]) -> dict[str, str]:
        """The provider's own credentials and the correlation id; nothing the client sent."""
        return {**wire_headers, "x-correlation-id": self.correlation_id}

    async def open(self) -> None:
        """Send the request; fail with AttemptFailed unless the provider answers 2xx."""
        request = self.wire.request(self.provider, self.chat, self.stream)
        try:
            built = self._client.build_request("POST", request.url, json=request.body,
                                               headers=self.headers(request.headers), timeout=self.timeout())
            self._response = await self._client.send(built, stream=True)
        except httpx.TimeoutException as exc:
            raise self._transport_failure(exc) from None
        except httpx.ConnectError as exc:
            raise AttemptFailed(f"{self.provider.name}: {type(exc).__name__}",
                                self.classifier.connection_failure(CONNECT)) from None
        except httpx.HTTPError as exc:  # the connection broke after the request went out, before an answer
            raise AttemptFailed(f"{self.provider.name}: {type(exc).__name__} before a response",
                                self.classifier.connection_failure(BEFORE_RESPONSE)) from None
        if self._response.status_code >= 400:
            raise await self._status_failure(self._response)

    def events(self) -> AsyncIterator[Event]:
        """The attempt's events, one iterator per attempt, so reading can stop at commit and resume."""
        if self._events is None:
            self._events = self._produce()
        return self._events

    async def _produce(self) -> AsyncIterator[Event]:
        """Every mid-stream problem becomes AttemptFailed carrying the transcript so far."""
        assert self._response is not None
        try:
            if self.stream:
                source = self.wire.stream_events(read_sse(self._response.aiter_lines()))
                async for event in source:
                    if isinstance(event, ProviderStreamError):
                        raise AttemptFailed(f"{self.provider.name} reported {event.type} mid-stream",
                                            self.classifier.provider_error(event.retryable),
                                            transcript=self.transcript)
                    self.transcript.add(event)
                    yield event
            else:
                await self._response.aread()
                for event in self.wire.body_events(self._response.json()):
                    self.transcript.add(event)
                    yield event
                if self.transcript.finish_reason is None:
                    self.transcript.add(Finish("stop"))
        except httpx.TimeoutException as exc:
            raise self._transport_failure(exc) from None
        except (httpx.HTTPError, MalformedStream, ValueError) as exc:
            raise AttemptFailed(f"{self.provider.name} stream broke: {type(exc).__name__}",
                                self.classifier.connection_failure(MID_STREAM), transcript=self.transcript) from None

    def _transport_failure(self, exc: httpx.TimeoutException) -> AttemptFailed:
        if isinstance(exc, httpx.ConnectTimeout):
            return AttemptFailed(f"{self.provider.name}: connect timeout",
                                 self.classifier.connection_failure(CONNECT))
        return AttemptFailed(f"{self.provider.name}: no answer within the upstream timeout",
                             self.classifier.deadline(), transcript=self.transcript)

    async def _status_failure(self, response: httpx.Response) -> AttemptFailed:
        body = (await response.aread())[:2048].decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in response.headers.items()}
        return AttemptFailed(f"{self.provider.name} answered HTTP {response.status_code}",
                             self.classifier.status(response.status_code, headers), response.status_code,
                             headers, cannot_stream=self.stream and self.refuses_streaming(body))

    def refuses_streaming(self, body: str) -> bool:
        """Whether an error body says the provider cannot stream this request (any letter case)."""
        return any(marker in body.lower() for marker in CANNOT_STREAM_MARKERS)

    async def close(self) -> None:
        if self._events is not None:
            await self._events.aclose()  # type: ignore[attr-defined]
        if self._response is not None:
            await self._response.aclose()


def upstream_client() -> httpx.AsyncClient:
    """Shared by all attempts; no keep-alive, so each attempt's connection closes with it."""
    return httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0), trust_env=False,
                             verify=UPSTREAM_TLS)
