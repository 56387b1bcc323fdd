"""What a fake answers, request by request: immutable scripts a scenario hands to a fake.

A `Script` is a sequence of replies consumed one per scripted request; when it runs out, its
`then` reply (or else its last reply) repeats. Replies are provider-neutral: each fake renders
them in its own wire format, so one script can be handed to an OpenAI, Anthropic or Gemini fake.

    Reply        one HTTP answer; status 200 with no body means "succeed in the mode asked"
    Stream       a streamed answer built from neutral events, with optional faults
    Disconnect   close the connection without answering (FIN, or RST when `reset`)
    Transfer     the hub's file download, with byte-level faults

Stream fault positions (`cut_after`, `stall_after`, `malformed_at`) count script events, not
wire frames, so the same script cuts every provider's stream after the same content. The
provider's framing (OpenAI's role chunk, Anthropic's message_start) travels with the first event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeAlias

Headers: TypeAlias = Mapping[str, str]


def _frozen_headers(headers: Headers) -> Headers:
    return MappingProxyType({k.lower(): v for k, v in headers.items()})


@dataclass(frozen=True)
class Text:
    """A text delta."""
    text: str
    delay: float = 0.0


@dataclass(frozen=True)
class ToolCall:
    """A tool-call delta; the first delta of an `index` opens the call, later ones add arguments."""
    arguments: str
    name: str = "get_weather"
    id: str = "call_1"
    index: int = 0
    delay: float = 0.0


@dataclass(frozen=True)
class Finish:
    """The normal end of a stream. Neutral reasons `stop`, `length`, `tool_calls` are mapped to
    each provider's own; any other string is sent verbatim."""
    reason: str = "stop"
    delay: float = 0.0


@dataclass(frozen=True)
class ProviderError:
    """A mid-stream error event after a 200 (OpenAI/Gemini `data: {"error":…}`, Anthropic
    `event: error`). The status picks the provider's error type (529 → overloaded_error)."""
    status: int = 529
    message: str | None = None
    delay: float = 0.0


@dataclass(frozen=True)
class Ping:
    """Anthropic's `ping` event; an SSE comment for the providers that have none."""
    delay: float = 0.0


@dataclass(frozen=True)
class Raw:
    """Bytes written verbatim, for wire shapes no other event produces."""
    data: bytes
    delay: float = 0.0


StreamEvent: TypeAlias = Text | ToolCall | Finish | ProviderError | Ping | Raw


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: Headers = field(default_factory=dict)
    body: object | None = None          # JSON; None: the provider's own success or error body
    text: str = "Hello from the fake."  # the completion when status is 200 and body is None
    message: str | None = None          # overrides the default error message
    delay_before_headers: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _frozen_headers(self.headers))

    def describe(self) -> str:
        return f"reply {self.status}"


@dataclass(frozen=True)
class Stream:
    events: tuple[StreamEvent, ...]
    status: int = 200
    headers: Headers = field(default_factory=dict)
    delay_before_headers: float = 0.0
    cut_after: int | None = None        # close the connection after N events, mid-body
    stall_after: int | None = None      # after N events send nothing, keep the connection open
    malformed_at: int | None = None     # event N (0-based) is replaced by a broken SSE event
    reset: bool = False                 # a cut sends RST instead of FIN

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", tuple(self.events))
        object.__setattr__(self, "headers", _frozen_headers(self.headers))

    def describe(self) -> str:
        faults = [f"{name}={value}" for name, value in (("cut_after", self.cut_after),
                  ("stall_after", self.stall_after), ("malformed_at", self.malformed_at))
                  if value is not None]
        return " ".join([f"stream {len(self.events)} events", *faults])


@dataclass(frozen=True)
class Disconnect:
    delay: float = 0.0
    reset: bool = True

    def describe(self) -> str:
        return "disconnect (reset)" if self.reset else "disconnect"


@dataclass(frozen=True)
class Transfer:
    """A hub file download: full content, or cut / stalled at a byte offset."""
    delay_before_headers: float = 0.0
    cut_after_bytes: int | None = None
    stall_after_bytes: int | None = None
    reset: bool = False
    chunk_size: int = 64 * 1024
    chunk_delay: float = 0.0

    def describe(self) -> str:
        if self.cut_after_bytes is not None:
            return f"transfer cut at {self.cut_after_bytes}"
        if self.stall_after_bytes is not None:
            return f"transfer stalled at {self.stall_after_bytes}"
        return "transfer"


ScriptReply: TypeAlias = Reply | Stream | Disconnect | Transfer


@dataclass(frozen=True)
class Script:
    replies: tuple[ScriptReply, ...] = ()
    then: ScriptReply | None = None     # after the replies run out; default: the last repeats

    def __post_init__(self) -> None:
        object.__setattr__(self, "replies", tuple(self.replies))

    def reply_for(self, index: int) -> ScriptReply:
        """The reply to the `index`-th (0-based) scripted request."""
        if index < len(self.replies):
            return self.replies[index]
        if self.then is not None:
            return self.then
        return self.replies[-1] if self.replies else Reply()


def script(*replies: ScriptReply, then: ScriptReply | None = None) -> Script:
    return Script(tuple(replies), then)


def statuses(*codes: int, then: ScriptReply | None = None,
             headers: Headers | None = None) -> Script:
    """`statuses(503, 503, 200)`: a Reply per status, the same headers on each error."""
    return Script(tuple(Reply(code, headers if headers and code >= 400 else {}) for code in codes), then)


def split_text(text: str, chunks: int) -> list[str]:
    """Split into `chunks` nearly equal, non-empty pieces (fewer when the text is shorter)."""
    count = max(1, min(chunks, len(text)))
    size, extra = divmod(len(text), count)
    pieces, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def text_stream(text: str = "Hello world", chunks: int = 3, *,
                tool_calls: Sequence[tuple[str, str]] = (), finish: str | None = None,
                delay: float = 0.0, error: ProviderError | None = None,
                cut_after: int | None = None, stall_after: int | None = None,
                malformed_at: int | None = None, reset: bool = False,
                status: int = 200, headers: Headers | None = None,
                delay_before_headers: float = 0.0) -> Stream:
    """A typical stream: `text` in `chunks` deltas, then each (name, arguments) tool call in two
    argument deltas, then a Finish, or `error` in place of the Finish."""
    events: list[StreamEvent] = [Text(piece, delay) for piece in split_text(text, chunks)] if text else []
    for index, (name, arguments) in enumerate(tool_calls):
        for part in split_text(arguments, 2):
            events.append(ToolCall(part, name=name, id=f"call_{index + 1}", index=index, delay=delay))
    if error is not None:
        events.append(error)
    else:
        events.append(Finish(finish or ("tool_calls" if tool_calls else "stop"), delay))
    return Stream(tuple(events), status, headers or {}, delay_before_headers, cut_after, stall_after,
                  malformed_at, reset)


Kind: TypeAlias = Literal["openai", "anthropic", "gemini"]
