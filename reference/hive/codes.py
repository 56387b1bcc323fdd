"""The hive's error codes, all from the closed vocabulary (catalogue/error_codes.yaml)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from catalogue import vocabulary
from reference.common.errors import ServiceError

log = logging.getLogger("reference.hive")

CUDA_DEVICE_FAILED = "CUDA_DEVICE_FAILED"
GPU_VRAM_EXHAUSTED = "GPU_VRAM_EXHAUSTED"
WORKER_SPAWN_FAILED = "WORKER_SPAWN_FAILED"
WORKER_CRASHED = "WORKER_CRASHED"
INFERENCE_FAILED = "INFERENCE_FAILED"
INFERENCE_TIMEOUT = "INFERENCE_TIMEOUT"
DOWNLOAD_FAILED = "DOWNLOAD_FAILED"
MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
WORKER_NOT_FOUND = "WORKER_NOT_FOUND"
NO_WORKERS = "SERVICE_UNAVAILABLE"
GPU_CODES = frozenset({CUDA_DEVICE_FAILED, GPU_VRAM_EXHAUSTED})


def hive_error(code: str, message: str, details: Mapping[str, Any],
               headers: Mapping[str, str] | None = None) -> ServiceError:
    filled = dict(details)
    for key in vocabulary()[code].required_details:
        if key not in filled:
            # A missing required key is a hive bug; answer with the key present rather than a 500.
            log.warning("%s raised without required detail %r", code, key)
            filled[key] = None
    return ServiceError(code, message, filled, headers)


def is_gpu_failure(error: ServiceError) -> bool:
    return error.code in GPU_CODES
