"""python -m reference.hive --port N [--config FILE] [--time-scale S]"""

from __future__ import annotations

import sys

from reference.common.cli import base_parser, read_config
from reference.common.serve import configure_logging, serve
from reference.hive.app import build_app


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("reference-hive", "Faultline's conformant reference pool manager (rbee-hive-like)")
    args = parser.parse_args(argv)
    configure_logging("hive")
    serve(build_app(read_config(parser, args.config), args.time_scale), args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
