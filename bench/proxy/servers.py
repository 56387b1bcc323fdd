"""The benchmark's upstreams, run as a separate process: an echo port and a source port.

The source port sends `--source-bytes` bytes to each client and closes; Toxiproxy fully
closes the upstream when a client half-closes, so a download is the fair throughput test.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

BLOCK = b"\xa5" * (256 * 1024)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def make_source(total: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def source(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            left = total
            while left > 0:
                writer.write(BLOCK[:min(left, len(BLOCK))])
                left -= len(BLOCK)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
    return source


async def main(source_bytes: int) -> None:
    echo_server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=512)
    source_server = await asyncio.start_server(make_source(source_bytes), "127.0.0.1", 0)
    ports = (echo_server.sockets[0].getsockname()[1], source_server.sockets[0].getsockname()[1])
    print(f"{ports[0]} {ports[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    # Also stop when the parent goes away (stdin closes), so no stray process is left behind.
    loop.add_reader(sys.stdin.fileno(), stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=120)
    except TimeoutError:
        pass
    echo_server.close()
    source_server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-bytes", type=int, default=200_000_000)
    asyncio.run(main(parser.parse_args().source_bytes))
