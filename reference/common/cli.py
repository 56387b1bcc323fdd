"""The start-up options every reference shares."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", type=Path, help="JSON configuration file")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiply every spec duration by this factor (0 < scale <= 1)")
    return parser


def read_config(parser: argparse.ArgumentParser, path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        parser.error(f"--config {path}: {exc}")
    if not isinstance(loaded, dict):
        parser.error(f"--config {path}: must hold a JSON object")
    return loaded
