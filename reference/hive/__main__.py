"""python -m reference.hive --port N --config FILE [--time-scale S] [--defect NAME]

Exit codes: 0 after SIGTERM/SIGINT (workers stopped, temp_dir emptied); 1 when a configured GPU
device is unusable at start (the envelope on stderr); 2 for bad options or configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import Iterator

import uvicorn

from reference.common.cli import base_parser, read_config
from reference.common.clock import ScaledClock
from reference.common.serve import PromptServer, configure_logging, exit_promptly
from reference.hive.app import Hive, build_app
from reference.hive.components import Components
from reference.hive import DEFECT_ENV
from reference.hive.config import HiveConfig, parse_config


class _Server(PromptServer):
    """The hive owns SIGTERM/SIGINT: it must stop its workers, then exit 0 (not re-raise the signal)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run(config: HiveConfig, parts: Components, host: str, port: int, scale: float) -> int:
    clock = ScaledClock(scale)
    hive = (parts.hive or Hive)(config, clock, parts, port)
    settings = uvicorn.Config(build_app(hive), host=host, port=port, log_level="warning", access_log=False,
                              lifespan="off", timeout_graceful_shutdown=max(clock.real(1.0), 0.1))
    server = _Server(settings)
    stop = asyncio.Event()
    received: list[signal.Signals] = []
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig)
        stop.set()

    for sig in parts.stop_signals:
        loop.add_signal_handler(sig, on_signal, sig)
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    # Workers first: the streams they feed end now, so the server's drain is short.
    await hive.shutdown()
    server.should_exit = True
    stopping.cancel()
    try:
        await serving
    except SystemExit as exc:  # uvicorn exits this way when it cannot bind
        return int(exc.code or 1)
    if received and parts.reraise_stop_signal:
        signal.signal(received[0], signal.SIG_DFL)
        os.kill(os.getpid(), received[0])
    return 0 if stop.is_set() else 1


def components(defect: str | None) -> Components:
    """The clean reference starts without loading the defect catalogue: a large module that cost
    every start of the reference (one per scenario) about 20 ms of CPU."""
    if defect is None:
        return Components()
    from reference.hive.defects import components_for
    return components_for(defect)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("reference-hive", "Faultline's conformant reference pool manager (rbee-hive-like)")
    parser.add_argument("--defect", help="start with one deliberately broken component (self-validation)")
    args = parser.parse_args(argv)
    configure_logging("hive")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines carry URLs: request content
    try:
        parts = components(args.defect or os.environ.get(DEFECT_ENV) or None)
    except ValueError as exc:
        parser.error(f"--defect: {exc}")
    try:
        config = parts.configure(parse_config(read_config(parser, args.config)))
    except (ValueError, TypeError) as exc:
        parser.error(f"--config {args.config}: {exc}")
    if config.devices:
        failure = parts.startup_gpu_check(config, args.time_scale)
        if failure is not None:
            print(json.dumps(failure.envelope(uuid.uuid4().hex)), file=sys.stderr, flush=True)
            # At once: the interpreter's teardown of everything imported so far is no part of failing fast.
            os._exit(parts.gpu_failure_exit_code)
    return asyncio.run(run(config, parts, args.host, args.port, args.time_scale))


if __name__ == "__main__":
    exit_promptly(main())
