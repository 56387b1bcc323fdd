"""The hive's command line client.

    python -m reference.hive.cli --url URL --token T [--time-scale S] [--defect NAME] COMMAND ...
    spawn --model REF [--backend cuda|cpu] [--device N]      infer --prompt P [--max-tokens N] [--stream]
    stop --worker-id ID      list      download --model REF

Results go to stdout; errors print the envelope on stderr. Exit codes:
    0 success   1 error   124 timeout (INFERENCE_TIMEOUT / GATEWAY_TIMEOUT, or the CLI's own clock)
    255 the hive cannot be reached (refused, reset, DNS)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from reference.hive import DEFECT_ENV


OK, ERROR, TIMEOUT, UNREACHABLE = 0, 1, 124, 255
TIMEOUT_CODES = frozenset({"INFERENCE_TIMEOUT", "GATEWAY_TIMEOUT"})
REQUEST_TIMEOUT = 30.0      # spec seconds, seed 000 Pattern 7
LONG_REQUEST_TIMEOUT = 120.0  # spawn and download: a model download may run the whole retry schedule


@dataclass(frozen=True)
class CliBehaviour:
    """What the CLI exits with, and how it reads an answer; a defect (reference.hive.defects) changes one."""

    timeout_exit_code: int = TIMEOUT      # the hive said INFERENCE_TIMEOUT, or the CLI's own clock ran out
    error_exit_code: int = ERROR          # the hive answered with an error
    server_error_exit_code: int = ERROR   # ... an error with a 5xx status
    unreachable_exit_code: int = UNREACHABLE
    errors_to: str = "stderr"             # where the error envelope is printed
    spawned_state: str | None = None      # a spawn succeeded only with the worker in this state (None: any 2xx)


class Outcome(Exception):
    def __init__(self, code: int, envelope: dict[str, Any] | None = None) -> None:
        super().__init__(code)
        self.code, self.envelope = code, envelope


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reference-hive-cli", description="Talk to a reference hive")
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--time-scale", type=float, default=1.0)
    p.add_argument("--timeout", type=float,
                   help="spec seconds this CLI waits (default 30; 120 for spawn and download)")
    p.add_argument("--defect", help="a deliberately broken CLI (self-validation); daemon defects are ignored")
    commands = p.add_subparsers(dest="command", required=True)
    spawn = commands.add_parser("spawn")
    spawn.add_argument("--model", required=True)
    spawn.add_argument("--backend", default="cuda")
    spawn.add_argument("--device", type=int, default=0)
    infer = commands.add_parser("infer")
    infer.add_argument("--prompt", required=True)
    infer.add_argument("--max-tokens", type=int, default=20)
    infer.add_argument("--model")
    infer.add_argument("--stream", action="store_true")
    stop = commands.add_parser("stop")
    stop.add_argument("--worker-id", required=True)
    commands.add_parser("list")
    download = commands.add_parser("download")
    download.add_argument("--model", required=True)
    return p


def local_envelope(code: str, message: str, action: str) -> dict[str, Any]:
    """An envelope for what the CLI saw itself (BAD_GATEWAY, GATEWAY_TIMEOUT: vocabulary codes)."""
    return {"error": {"code": code, "message": message, "details": {"suggested_action": action},
                      "correlation_id": uuid.uuid4().hex}}


def behaviour(defect: str | None) -> CliBehaviour:
    if not defect:
        return CliBehaviour()
    from reference.hive.defects import components_for  # the daemon's parts: slow to import, rarely needed
    return components_for(defect).cli


def request_for(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    if args.command == "spawn":
        spawn = {"model_ref": args.model, "backend": args.backend, "device": args.device}
        return "POST", "/v1/workers/spawn", spawn
    if args.command == "infer":
        body: dict[str, Any] = {"prompt": args.prompt, "max_tokens": args.max_tokens, "stream": args.stream}
        if args.model:
            body["model_ref"] = args.model
        return "POST", "/v1/inference", body
    if args.command == "stop":
        return "POST", "/v1/workers/stop", {"worker_id": args.worker_id}
    if args.command == "download":
        return "POST", "/v1/models/download", {"model_ref": args.model}
    return "GET", "/v1/workers/list", None


def failure_of(envelope: Any, status: int, how: CliBehaviour) -> Outcome:
    code = envelope.get("error", {}).get("code") if isinstance(envelope, dict) else None
    if code in TIMEOUT_CODES:
        exit_code = how.timeout_exit_code
    else:
        exit_code = how.server_error_exit_code if status >= 500 else how.error_exit_code
    return Outcome(exit_code, envelope if isinstance(envelope, dict) else None)


def sse_payloads(lines: Iterator[str]) -> Iterator[Any]:
    for line in lines:
        if line.startswith("data:"):
            data = line[5:].strip()
            if data == "[DONE]":
                return
            yield json.loads(data)


def execute(args: argparse.Namespace, timeout: float, how: CliBehaviour) -> None:
    method, path, body = request_for(args)
    headers = {"Authorization": f"Bearer {args.token}", "X-Correlation-ID": uuid.uuid4().hex}
    with httpx.Client(timeout=httpx.Timeout(timeout), trust_env=False) as client, \
            client.stream(method, args.url.rstrip("/") + path, json=body, headers=headers) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            for event in sse_payloads(response.iter_lines()):
                if isinstance(event, dict) and event.get("type") == "error":
                    raise failure_of({"error": event.get("error")} if "error" in event else event,
                                     response.status_code, how)
                if isinstance(event, dict) and event.get("type") == "token":
                    sys.stdout.write(str(event.get("t", "")))
                    sys.stdout.flush()
            sys.stdout.write("\n")
            return
        payload = json.loads(response.read() or b"null")
        if response.status_code >= 400:
            raise failure_of(payload, response.status_code, how)
        if args.command == "spawn" and how.spawned_state is not None and isinstance(payload, dict) \
                and payload.get("state") != how.spawned_state:
            raise Outcome(how.error_exit_code, local_envelope(
                "WORKER_SPAWN_FAILED", f"the worker is {payload.get('state')}, not {how.spawned_state}",
                "Check the worker"))
        print(json.dumps(payload, indent=2))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        how = behaviour(args.defect or os.environ.get(DEFECT_ENV))
    except ValueError as exc:
        parser().error(f"--defect: {exc}")
    long_running = args.command in ("spawn", "download")
    spec_timeout = args.timeout or (LONG_REQUEST_TIMEOUT if long_running else REQUEST_TIMEOUT)
    try:
        execute(args, spec_timeout * args.time_scale, how)
        return OK
    except Outcome as outcome:
        result = outcome
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError,
            httpx.WriteError) as exc:
        result = Outcome(how.unreachable_exit_code, local_envelope(
            "BAD_GATEWAY",
            f"cannot reach the hive at {args.url}: {type(exc).__name__}", "Check that the hive is running"))
    except httpx.TimeoutException:
        result = Outcome(how.timeout_exit_code, local_envelope(
            "GATEWAY_TIMEOUT", f"no answer within {spec_timeout:g}s",
            "Retry later or raise --timeout"))
    except (httpx.HTTPError, ValueError) as exc:
        result = Outcome(how.error_exit_code, local_envelope("BAD_GATEWAY", f"unreadable answer: {type(exc).__name__}",
                                               "Check the hive's URL"))
    if result.envelope is not None:
        print(json.dumps(result.envelope), file=sys.stdout if how.errors_to == "stdout" else sys.stderr)
    return result.code


if __name__ == "__main__":
    sys.exit(main())
