"""Synchronous handles on the fakes for steps and fixtures: the servers run on the background
loop, everything else (scripts, records, connection counts) is thread-safe to read from here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from harness.fakes.core import FakeServer, RecordedRequest
from harness.fakes.hub import FakeHub, HubModel
from harness.fakes.provider import FakeProvider, ProviderKind
from harness.fakes.script import Script
from harness.history import Recorder
from harness.portal import BackgroundLoop
from harness.wait import wait_until

F = TypeVar("F", bound=FakeServer)


class SyncFake(Generic[F]):
    def __init__(self, loop: BackgroundLoop, fake: F) -> None:
        self._loop = loop
        self.fake = fake

    @property
    def url(self) -> str:
        return self.fake.url

    @property
    def source(self) -> str:
        return self.fake.source

    def set_script(self, script: Script, channel: str | None = None) -> None:
        if channel is None:
            self.fake.set_script(script)
        else:
            self.fake.set_script(script, channel)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.fake.requests

    @property
    def own_requests(self) -> list[RecordedRequest]:
        return self.fake.own_requests

    def open_connections(self) -> int:
        return self.fake.open_connections()

    def open_own_connections(self) -> int:
        return self.fake.open_own_connections()

    def open_idle_connections(self) -> int:
        return self.fake.open_idle_connections()

    def wait_for_open_connections(self, count: int, timeout: float) -> int:
        """Block until exactly `count` connections are open (e.g. 0 after a client hung up)."""
        wait_until(lambda: self.fake.open_connections() == count, timeout=timeout,
                   what=f"{self.source} to have {count} open connection(s)",
                   describe=lambda: f"{self.fake.open_connections()} open")
        return count

    def wait_for_requests(self, count: int, timeout: float) -> list[RecordedRequest]:
        wait_until(lambda: len(self.fake.requests) >= count, timeout=timeout,
                   what=f"{count} request(s) at {self.source}",
                   describe=lambda: f"{len(self.fake.requests)} request(s)")
        return self.fake.requests

    def request_log(self, origin: float) -> str:
        """What this fake received, one line per request, seconds since `origin`."""
        return "\n".join(f"+{r.t - origin:9.3f}s  {r.method} {r.path} stream={r.stream} attempt={r.attempt} "
                         f"reply={r.reply}" for r in self.requests) or "(no request)"

    def stop(self) -> None:
        self._loop.call(self.fake.stop)

    def __enter__(self) -> SyncFake[F]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


SyncProvider = SyncFake[FakeProvider]
SyncHub = SyncFake[FakeHub]


def start_provider(loop: BackgroundLoop, kind: ProviderKind, name: str, recorder: Recorder,
                   api_key: str, script: Script | None = None) -> SyncProvider:
    provider = FakeProvider(kind, name, recorder, api_key)
    if script is not None:
        provider.set_script(script)
    loop.call(provider.start)
    return SyncFake(loop, provider)


def start_hub(loop: BackgroundLoop, name: str, recorder: Recorder, models: Iterable[HubModel] = (),
              token: str | None = None) -> SyncHub:
    hub = FakeHub(name, recorder, models, token)
    loop.call(hub.start)
    return SyncFake(loop, hub)
