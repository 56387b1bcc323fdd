"""`python -m fault_injection.toxiproxy`: the server with toxiproxy-server's flags.

Go's flag package takes `-host` and `--host` alike; so does this.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from fault_injection.toxiproxy.api import VERSION
from fault_injection.toxiproxy.registry import PopulateError
from fault_injection.toxiproxy.server import ProxyServer


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="toxiproxy-server", description=__doc__)
    parser.add_argument("-host", "--host", default="localhost", help="host for the API to listen on")
    parser.add_argument("-port", "--port", type=int, default=8474, help="port for the API to listen on")
    parser.add_argument("-config", "--config", default="", help="JSON file of proxies to create at start")
    parser.add_argument("-seed", "--seed", type=int, default=None, help="seed for randomizing toxics")
    parser.add_argument("-version", "--version", action="store_true", help="print the version")
    # Accepted so existing command lines work; there is no metrics endpoint.
    parser.add_argument("-proxy-metrics", "--proxy-metrics", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-runtime-metrics", "--runtime-metrics", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> int:
    server = ProxyServer(host=args.host, port=args.port, seed=args.seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if args.config:
            with open(args.config, encoding="utf-8") as handle:
                body = json.load(handle)
            try:
                proxies = await server.populate(body)
                print(f"populated {len(proxies)} proxies from {args.config}", file=sys.stderr)
            except PopulateError as exc:
                print(f"failed to populate proxies from {args.config}: {exc.error.message}", file=sys.stderr)
        await server.start()
        print(f"toxiproxy API listening on {server.url}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await server.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.version:
        print(f"toxiproxy-server version {VERSION}")
        return 0
    return asyncio.run(serve(args))
