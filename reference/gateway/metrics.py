"""Prometheus metrics named after seed 004 section 10 (dots become underscores)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_duration = Histogram(
            "llm_request_duration_ms", "Chat completion duration in milliseconds", ["provider", "outcome"],
            buckets=(5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000),
            registry=self.registry)
        self.retries = Counter("llm_request_retries", "Upstream retries", ["provider"], registry=self.registry)
        self.streaming_errors = Counter("llm_streaming_errors", "Errors while streaming, by category",
                                        ["category"], registry=self.registry)
        self.fallbacks = Counter("llm_fallback_triggered", "Fallbacks taken, by type", ["type"],
                                 registry=self.registry)

    def start_at_zero(self, providers: list[str]) -> None:
        """Give every known label a sample from the start, so the page lists all four metrics."""
        for provider in providers:
            self.retries.labels(provider)
        for category in ("transient", "permanent", "context", "resource"):
            self.streaming_errors.labels(category)
        for kind in ("streaming_to_buffered", "provider_switch"):
            self.fallbacks.labels(kind)

    def render(self) -> bytes:
        return generate_latest(self.registry)
