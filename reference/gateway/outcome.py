"""How a failed upstream operation is told to the client: one place maps failures to the vocabulary."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reference.common.errors import ServiceError
from reference.gateway.classify import Category
from reference.gateway.upstream import AttemptFailed
from reference.gateway.wire.events import Transcript


@dataclass
class OperationFailed(Exception):
    """A provider call with all its retries failed."""

    provider: str
    last: AttemptFailed
    attempts: int
    exhausted: bool                      # transient failures until the policy gave up: fall back
    retry_after: float | None = None     # an upstream hint too long to wait


def partial_details(transcript: Transcript, key: str) -> dict[str, object]:
    return {f"{key}_text": transcript.text, f"{key}_tool_calls": transcript.tool_call_list()}


def failure_error(failure: OperationFailed, retry_after_default: float) -> ServiceError:
    last = failure.last
    base = {"provider": failure.provider, "attempts": failure.attempts, "upstream_status": last.status,
            **partial_details(last.transcript, "partial")}
    if failure.retry_after is not None:
        wait = math.ceil(failure.retry_after)
        return ServiceError("RATE_LIMITED", f"provider {failure.provider} asked to wait {wait}s, longer than allowed",
                            {**base, "retry_after_seconds": wait,
                             "suggested_action": f"Retry after {wait} seconds"})
    if last.classification.category is Category.CONTEXT:
        return ServiceError("GATEWAY_TIMEOUT", f"provider {failure.provider} did not answer in time",
                            {**base, "suggested_action": "Retry later or with a smaller request"})
    status = last.status
    if status == 429:
        return ServiceError("RATE_LIMITED", f"provider {failure.provider} is rate limiting",
                            {**base, "retry_after_seconds": retry_after_default,
                             "suggested_action": f"Retry after {retry_after_default:g} seconds"})
    if status in (503, 529):
        return ServiceError("SERVICE_UNAVAILABLE", f"provider {failure.provider} is unavailable",
                            {**base, "retry_after_seconds": retry_after_default,
                             "suggested_action": f"Retry after {retry_after_default:g} seconds"})
    if status in (400, 422):
        return ServiceError("VALIDATION_ERROR", f"provider {failure.provider} rejected the request as invalid",
                            {**base, "fields": {}, "suggested_action": "Fix the request; it will not succeed as is"})
    if status == 404:
        return ServiceError("NOT_FOUND", f"provider {failure.provider} does not know the model",
                            {**base, "suggested_action": "Check the model name"})
    if status == 413:
        return ServiceError("PAYLOAD_TOO_LARGE", f"provider {failure.provider} found the request too large",
                            {**base, "suggested_action": "Send a smaller request"})
    if status in (401, 403):
        return ServiceError("BAD_GATEWAY", f"provider {failure.provider} refused the gateway's credentials",
                            {**base, "suggested_action": "The operator must fix the provider credentials"})
    return ServiceError("BAD_GATEWAY", f"provider {failure.provider} failed: {last.reason}",
                        {**base, "suggested_action": "Retry later; the provider is failing"})


def stream_failure_error(failure: AttemptFailed, provider: str, delivered: Transcript) -> ServiceError:
    """The terminal event of a stream that had already reached the client."""
    details = {"provider": provider, **partial_details(delivered, "delivered"),
               "suggested_action": "Use the delivered part or retry the request"}
    if failure.classification.category is Category.CONTEXT:
        return ServiceError("GATEWAY_TIMEOUT", f"provider {provider} stalled mid-stream", details)
    return ServiceError("STREAM_INTERRUPTED", f"provider {provider} failed mid-stream: {failure.reason}", details)
