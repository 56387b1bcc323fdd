"""Request validation in rbee's VAL style: every problem named by field, no value ever echoed back."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from reference.common.errors import ServiceError

# provider:Org/Name, ASCII only: no shell metacharacters, whitespace, NUL or path tricks reach a worker argv.
NAME = r"([A-Za-z0-9][A-Za-z0-9._-]{0,95})"
MODEL_REF = re.compile(rf"^([a-z][a-z0-9_-]{{0,31}}):{NAME}/{NAME}$")
IDENTIFIER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PROVIDERS = ("hf",)
BACKENDS = ("cuda", "cpu", "metal")
MAX_PROMPT = 32768
MAX_TOKENS = 2048


@dataclass(frozen=True)
class ModelRef:
    provider: str
    org: str
    name: str

    @property
    def repo(self) -> str:
        return f"{self.org}/{self.name}"

    @property
    def text(self) -> str:
        return f"{self.provider}:{self.org}/{self.name}"


@dataclass(frozen=True)
class SpawnRequest:
    model: ModelRef
    backend: str
    device: int


@dataclass(frozen=True)
class InferenceRequest:
    prompt: str
    max_tokens: int
    stream: bool
    model: ModelRef | None


def invalid(fields: dict[str, str]) -> ServiceError:
    return ServiceError("VALIDATION_ERROR", f"invalid request: {', '.join(sorted(fields))}",
                        {"fields": fields,
                         "suggested_action": "Fix the named fields and send the request again"})



def json_object(body: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise invalid({"body": "is not valid JSON"}) from None
    if not isinstance(raw, dict):
        raise invalid({"body": "must be a JSON object"})
    return raw


def _model_ref(value: Any, fields: dict[str, str], key: str = "model_ref") -> ModelRef | None:
    match = MODEL_REF.match(value) if isinstance(value, str) and value.isascii() else None
    if match is None or ".." in value:
        fields[key] = "must be provider:Org/Name (ASCII letters, digits, . _ -)"
        return None
    if match.group(1) not in PROVIDERS:
        fields[key] = f"provider must be one of {', '.join(PROVIDERS)}"
        return None
    return ModelRef(match.group(1), match.group(2), match.group(3))


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_model_ref(raw: dict[str, Any]) -> ModelRef:
    fields: dict[str, str] = {}
    ref = _model_ref(raw.get("model_ref"), fields)
    if ref is None:
        raise invalid(fields)
    return ref


def parse_spawn(raw: dict[str, Any]) -> SpawnRequest:
    fields: dict[str, str] = {}
    ref = _model_ref(raw.get("model_ref"), fields)
    backend = raw.get("backend")
    if not isinstance(backend, str) or not IDENTIFIER.match(backend):
        fields["backend"] = "must be an identifier (ASCII letters, digits, - _)"
    elif backend not in BACKENDS:
        fields["backend"] = f"must be one of {', '.join(BACKENDS)}"
    device = raw.get("device", 0)
    if not _int(device) or not 0 <= device <= 1023:
        fields["device"] = "must be an integer between 0 and 1023"
    if fields or ref is None:
        raise invalid(fields)
    return SpawnRequest(ref, str(backend), int(device))


def parse_inference(raw: dict[str, Any]) -> InferenceRequest:
    fields: dict[str, str] = {}
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= MAX_PROMPT or "\x00" in prompt:
        fields["prompt"] = f"must be a string of 1 to {MAX_PROMPT} characters without NUL"
    max_tokens = raw.get("max_tokens", 100)
    if not _int(max_tokens) or not 1 <= max_tokens <= MAX_TOKENS:
        fields["max_tokens"] = f"must be an integer between 1 and {MAX_TOKENS}"
    stream = raw.get("stream", False)
    if not isinstance(stream, bool):
        fields["stream"] = "must be true or false"
    model = _model_ref(raw["model_ref"], fields) if raw.get("model_ref") is not None else None
    if fields:
        raise invalid(fields)
    return InferenceRequest(str(prompt), int(max_tokens), bool(stream), model)


def parse_worker_id(raw: dict[str, Any]) -> str:
    worker_id = raw.get("worker_id")
    if not isinstance(worker_id, str) or not IDENTIFIER.match(worker_id):
        raise invalid({"worker_id": "must be a worker id (ASCII letters, digits, - _)"})
    return worker_id


class Validator:
    """The request parsers as one replaceable part (a defect swaps it for a looser or a leakier one)."""

    def json_object(self, body: bytes) -> dict[str, Any]:
        return json_object(body)

    def model_ref(self, raw: dict[str, Any]) -> ModelRef:
        return parse_model_ref(raw)

    def spawn(self, raw: dict[str, Any]) -> SpawnRequest:
        return parse_spawn(raw)

    def inference(self, raw: dict[str, Any]) -> InferenceRequest:
        return parse_inference(raw)

    def worker_id(self, raw: dict[str, Any]) -> str:
        return parse_worker_id(raw)
