"""Provider wire formats: one adapter per provider, all speaking the same normalised events."""

from __future__ import annotations

from reference.gateway.wire.anthropic import AnthropicWire
from reference.gateway.wire.base import Wire
from reference.gateway.wire.gemini import GeminiWire
from reference.gateway.wire.openai import OpenAIWire

WIRES: dict[str, Wire] = {"openai": OpenAIWire(), "anthropic": AnthropicWire(), "gemini": GeminiWire()}

__all__ = ["WIRES", "Wire"]
