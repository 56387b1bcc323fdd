"""python -m reference.gateway --port N [--config FILE] [--time-scale S]"""

from __future__ import annotations

import sys

from reference.common.cli import base_parser, read_config
from reference.common.serve import configure_logging, serve
from reference.gateway.app import build_app
from reference.gateway.config import parse_config
from reference.gateway.components import Components


def components(defect: str | None) -> Components:
    """The clean reference starts without loading the defect catalogue: a large module that cost
    every start of the reference (one per scenario) about 20 ms of CPU."""
    if defect is None:
        return Components()
    from reference.gateway.defects import components_for
    return components_for(defect)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("reference-gateway", "Faultline's conformant reference LLM gateway")
    parser.add_argument("--defect", help="start with one deliberately broken component (self-validation)")
    args = parser.parse_args(argv)
    configure_logging("gateway")
    try:
        parts = components(args.defect)
    except ValueError as exc:
        parser.error(f"--defect: {exc}")
    raw = read_config(parser, args.config)
    try:
        app = build_app(raw, args.time_scale, parts)
    except (ValueError, TypeError) as exc:
        parser.error(f"--config {args.config}: {exc}")
    serve(app, args.host, args.port, shutdown_budget=parts.shutdown_budget(parse_config(raw), args.time_scale))
    return 0


if __name__ == "__main__":
    sys.exit(main())
