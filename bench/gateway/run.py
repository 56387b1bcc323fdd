"""Reference gateway overhead, measured side by side with calling the fake provider directly.

    .venv/bin/python bench/gateway/run.py [--requests 300] [--streams 200]

Prints p50/p99 latency of non-streaming calls and time to first token of streaming calls, each
direct and through the gateway, the added milliseconds, and 200 concurrent streams' errors.
Loopback only; bounded; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.stop_signals import install_stop_handlers  # noqa: E402
from harness.fakes import script, start_provider, text_stream  # noqa: E402
from harness.history import History  # noqa: E402
from harness.plugin import DEFAULT_TARGETS  # noqa: E402
from harness.portal import BackgroundLoop  # noqa: E402
from harness.targets import TargetContext, load_target_file, make_target  # noqa: E402

BODY = {"model": "bench", "messages": [{"role": "user", "content": "hi"}]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def timed_calls(url: str, headers: dict[str, str], count: int, stream: bool) -> list[float]:
    """Seconds per call: the whole answer, or (stream) the first content event."""
    samples = []
    with httpx.Client(timeout=10.0) as client:
        for _ in range(count):
            start = time.perf_counter()
            if not stream:
                client.post(url, json=BODY, headers=headers).raise_for_status()
                samples.append(time.perf_counter() - start)
                continue
            first: float | None = None
            with client.stream("POST", url, json={**BODY, "stream": True}, headers=headers) as response:
                for line in response.iter_lines():
                    if first is None and line.startswith("data:") and '"content"' in line:
                        first = time.perf_counter() - start
            assert first is not None, "no content event arrived"
            samples.append(first)
    return samples


async def concurrent_streams(url: str, headers: dict[str, str], count: int) -> tuple[int, float]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        async def one() -> bool:
            async with client.stream("POST", url, json={**BODY, "stream": True}, headers=headers) as response:
                text = "".join([line async for line in response.aiter_lines()])
                return response.status_code == 200 and "[DONE]" in text and '"error"' not in text
        start = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    return sum(1 for r in results if r is not True), time.perf_counter() - start


def main() -> int:
    install_stop_handlers()  # SIGTERM unwinds like Ctrl-C: what the benchmark started is stopped
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--streams", type=int, default=200)
    args = parser.parse_args()
    history, key, token = History(), "pk-" + secrets.token_hex(8), "gw-" + secrets.token_hex(8)
    with BackgroundLoop() as loop:
        fake = start_provider(loop, "openai", "bench", history, key, script(then=text_stream("hello bench world", 3)))
        values = {"providers": [{"name": "bench", "kind": "openai", "url": fake.url, "api_key": key,
                                 "model": "bench", "streaming": True}],
                  "limits": {"max_concurrent": args.streams + 10, "max_queue": 0, "max_body_bytes": 1048576}}
        gateway = make_target(load_target_file(DEFAULT_TARGETS["gateway"])).start(TargetContext(1.0, token, values))
        try:
            direct = (fake.url + "/v1/chat/completions", {"authorization": f"Bearer {key}"})
            via = (gateway.base_url + "/v1/chat/completions", {"authorization": f"Bearer {token}"})
            for url, headers in (direct, via):  # warm both paths
                timed_calls(url, headers, 20, stream=False)
            rows = []
            for stream in (False, True):
                d = timed_calls(*direct, args.requests, stream)
                g = timed_calls(*via, args.requests, stream)
                rows.append(("time to first token" if stream else "full answer", d, g))
            errors, elapsed = asyncio.run(concurrent_streams(*via, args.streams))
        finally:
            gateway.stop()
            fake.stop()
    print(f"{'measure':<22}{'direct p50':>12}{'gateway p50':>13}{'added p50':>11}{'direct p99':>12}"
          f"{'gateway p99':>13}{'added p99':>11}   (milliseconds)")
    for name, d, g in rows:
        dp50, gp50, dp99, gp99 = (statistics.median(d) * 1e3, statistics.median(g) * 1e3,
                                  percentile(d, 99) * 1e3, percentile(g, 99) * 1e3)
        print(f"{name:<22}{dp50:>12.2f}{gp50:>13.2f}{gp50 - dp50:>11.2f}{dp99:>12.2f}{gp99:>13.2f}{gp99 - dp99:>11.2f}")
        print(f"{'':<22}ratio gateway/direct: p50 {gp50 / dp50:.2f}x, p99 {gp99 / dp99:.2f}x")
    print(f"{args.streams} concurrent streams through the gateway: {errors} errors, {elapsed:.2f}s")
    print("targets: added p50 < 2 ms, added p99 < 10 ms, time-to-first-token overhead < 2 ms, 0 stream errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
