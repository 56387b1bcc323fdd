"""Request validation: every problem named by field, no value ever echoed back (it may be hostile)."""

from __future__ import annotations

import json
import re
from typing import Any

from reference.common.errors import ServiceError
from reference.gateway.wire.events import ChatRequest

ROLES = {"system", "user", "assistant", "tool", "developer"}
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
MAX_MESSAGES = 2048


def invalid(fields: dict[str, str]) -> ServiceError:
    return ServiceError("VALIDATION_ERROR", f"invalid request: {', '.join(sorted(fields))}",
                        {"fields": fields, "suggested_action": "Fix the named fields and send the request again"})


class ChatValidator:
    """A chat completion body to a ChatRequest, or VALIDATION_ERROR naming every offending field."""

    def parse(self, body: bytes) -> ChatRequest:
        raw = self.json_object(body)
        fields: dict[str, str] = {}
        model = raw.get("model")
        problem = self.model_problem(model)
        if problem:
            fields["model"] = problem
        messages = raw.get("messages")
        if not isinstance(messages, list) or not messages:
            fields["messages"] = "must be a non-empty list"
        elif len(messages) > MAX_MESSAGES:
            fields["messages"] = f"must hold at most {MAX_MESSAGES} messages"
        else:
            for index, message in enumerate(messages):
                fields.update(self.message_problems(index, message))
        stream = raw.get("stream", False)
        if not isinstance(stream, bool):
            fields["stream"] = "must be true or false"
        max_tokens = raw.get("max_tokens")
        if max_tokens is not None and not self.is_integer(max_tokens, 1, 1_000_000):
            fields["max_tokens"] = "must be an integer between 1 and 1000000"
        temperature = raw.get("temperature")
        if temperature is not None and (not isinstance(temperature, (int, float)) or isinstance(temperature, bool)
                                        or not 0 <= temperature <= 2):
            fields["temperature"] = "must be a number between 0 and 2"
        tools = raw.get("tools", [])
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            fields["tools"] = "must be a list of objects"
        if fields:
            raise self.invalid(fields, raw)
        return ChatRequest(model=model, messages=tuple(messages), max_tokens=max_tokens,  # type: ignore[arg-type]
                           temperature=temperature, tools=tuple(tools), stream=stream)

    def json_object(self, body: bytes) -> dict[str, Any]:
        try:
            raw = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise invalid({"body": "is not valid JSON"}) from None
        if not isinstance(raw, dict):
            raise invalid({"body": "must be a JSON object"})
        return raw

    def model_problem(self, model: Any) -> str | None:
        """A model name is an identifier that travels to the provider (Gemini puts it in the URL path)."""
        if not isinstance(model, str) or not MODEL_NAME.match(model) or ".." in model:
            return "must be a model name (letters, digits, . _ : / -, at most 128 characters)"
        return None

    def is_integer(self, value: Any, low: int, high: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    def message_problems(self, index: int, message: Any) -> dict[str, str]:
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            return {where: "must be an object"}
        problems = {}
        if message.get("role") not in ROLES:
            problems[f"{where}.role"] = f"must be one of {', '.join(sorted(ROLES))}"
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            problems[f"{where}.content"] = "must be a string, a list of parts, or null"
        return problems

    def invalid(self, fields: dict[str, str], raw: dict[str, Any]) -> ServiceError:
        """Names the fields, never their values."""
        return invalid(fields)


def parse_chat_request(body: bytes) -> ChatRequest:
    return ChatValidator().parse(body)
