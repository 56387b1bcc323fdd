"""Fixtures for the fakes' tests: fakes on one background loop, real sockets, httpx clients;
everything a test starts is stopped at its end, also when it fails."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest

from harness.fakes import HubModel, SyncHub, SyncProvider, start_hub, start_provider
from harness.fakes.provider import ProviderKind
from harness.history import History
from harness.portal import BackgroundLoop
from tests.fakes.cases import KEY


@pytest.fixture
def history() -> History:
    return History()


@pytest.fixture
def make_provider(background_loop: BackgroundLoop, history: History) -> Iterator[Callable[..., SyncProvider]]:
    with ExitStack() as started:  # stops every fake, even when one stop fails

        def make(kind: ProviderKind, name: str = "p1", api_key: str = KEY) -> SyncProvider:
            return started.enter_context(start_provider(background_loop, kind, name, history, api_key))

        yield make


@pytest.fixture
def make_hub(background_loop: BackgroundLoop, history: History) -> Iterator[Callable[..., SyncHub]]:
    with ExitStack() as started:

        def make(*models: HubModel, name: str = "hf", token: str | None = None) -> SyncHub:
            return started.enter_context(start_hub(background_loop, name, history, models, token))

        yield make


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, trust_env=False) as http:
        yield http
