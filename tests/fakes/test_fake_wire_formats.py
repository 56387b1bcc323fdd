"""The official SDKs parse what the fakes send: the strongest check that the wire formats are real.

Needs the optional `sdk-check` dependencies (`pip install -e .[sdk-check]`); skipped without them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.fakes import ProviderError, Reply, SyncProvider, script, statuses, text_stream
from tests.fakes.cases import KEY

MESSAGES = [{"role": "user", "content": "hi"}]
WEATHER = [("get_weather", '{"city":"Paris"}')]


@pytest.fixture
def openai_client(make_provider: Callable[..., SyncProvider]) -> Iterator[tuple[Any, SyncProvider]]:
    openai = pytest.importorskip("openai", reason="the openai SDK is not installed (extra: sdk-check)")
    provider = make_provider("openai")
    with openai.OpenAI(api_key=KEY, base_url=provider.url + "/v1", max_retries=0, timeout=10) as sdk:
        yield sdk, provider


@pytest.fixture
def anthropic_client(make_provider: Callable[..., SyncProvider]) -> Iterator[tuple[Any, SyncProvider]]:
    anthropic = pytest.importorskip("anthropic",
                                    reason="the anthropic SDK is not installed (extra: sdk-check)")
    provider = make_provider("anthropic")
    with anthropic.Anthropic(api_key=KEY, base_url=provider.url, max_retries=0, timeout=10) as sdk:
        yield sdk, provider


def test_openai_sdk_reads_a_completion_and_a_stream_with_tool_calls(
        openai_client: tuple[Any, SyncProvider]) -> None:
    sdk, provider = openai_client
    provider.set_script(script(Reply(text="Hi there"),
                               text_stream("Hello world", 3, tool_calls=WEATHER)))
    completion = sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hi there" and completion.usage.total_tokens > 0
    text, arguments, finish = "", "", None
    for chunk in sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True,
                                             stream_options={"include_usage": True}):
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                arguments += call.function.arguments or ""
            finish = choice.finish_reason or finish
    assert (text, arguments, finish) == ("Hello world", '{"city":"Paris"}', "tool_calls")


def test_openai_sdk_raises_the_right_errors(openai_client: tuple[Any, SyncProvider]) -> None:
    import openai
    sdk, provider = openai_client
    provider.set_script(script(Reply(429), text_stream("Hello", 1, error=ProviderError(500))))
    with pytest.raises(openai.RateLimitError) as limited:
        sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert limited.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.APIError, match="server had an error"):
        for _ in sdk.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            pass
    with (openai.OpenAI(api_key="sk-wrong", base_url=provider.url + "/v1", max_retries=0) as wrong,
          pytest.raises(openai.AuthenticationError)):
        wrong.chat.completions.create(model="gpt-4o", messages=MESSAGES)


def test_openai_sdk_retries_by_the_fakes_headers(openai_client: tuple[Any, SyncProvider]) -> None:
    sdk, provider = openai_client
    provider.set_script(statuses(503, 200, headers={"retry-after-ms": "20"}))
    completion = sdk.with_options(max_retries=2).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert completion.choices[0].message.content == "Hello from the fake."
    assert [r.headers.get("x-stainless-retry-count") for r in provider.requests] == ["0", "1"]


def test_anthropic_sdk_reads_a_message_and_a_stream_with_tool_use(
        anthropic_client: tuple[Any, SyncProvider]) -> None:
    sdk, provider = anthropic_client
    provider.set_script(script(Reply(text="Hi there"),
                               text_stream("Hello world", 3, tool_calls=WEATHER)))
    message = sdk.messages.create(model="claude-x", max_tokens=64, messages=MESSAGES)
    assert message.content[0].text == "Hi there" and message.stop_reason == "end_turn"
    with sdk.messages.stream(model="claude-x", max_tokens=64, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "Hello world" and final.stop_reason == "tool_use"
    assert final.content[1].name == "get_weather" and final.content[1].input == {"city": "Paris"}


def test_anthropic_sdk_raises_overloaded_for_529_and_the_mid_stream_error(
        anthropic_client: tuple[Any, SyncProvider]) -> None:
    import anthropic
    sdk, provider = anthropic_client
    provider.set_script(script(Reply(529), text_stream("Hello", 1, error=ProviderError(529))))
    with pytest.raises(anthropic.OverloadedError):
        sdk.messages.create(model="claude-x", max_tokens=64, messages=MESSAGES)
    with pytest.raises(anthropic.APIStatusError) as mid_stream:
        for _ in sdk.messages.create(model="claude-x", max_tokens=64, messages=MESSAGES, stream=True):
            pass
    assert mid_stream.value.type == "overloaded_error"
    with (anthropic.Anthropic(api_key="sk-wrong", base_url=provider.url, max_retries=0) as wrong,
          pytest.raises(anthropic.AuthenticationError)):
        wrong.messages.create(model="claude-x", max_tokens=64, messages=MESSAGES)
