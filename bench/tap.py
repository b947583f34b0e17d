"""Benchmark: latency and throughput through the tap vs straight to the generator, same run.

    python bench/tap.py [--seconds 10] [--concurrency 16]

A generator (its own process, uvicorn) answers ``POST /v1/images/generations`` after a fixed
50 ms with a 256 KB OpenAI-style body (one ``b64_json`` image). The tap (its own process) sits in
front of it with `sample_ratio` 0.1, then 1.0; every sampled answer is copied, parsed and offered
to an intake that sheds it (a busy scorer: the worst case, every copy made for nothing). The load
(this process) runs `--concurrency` clients for `--seconds` against the generator directly, then
through the tap, alternating, and prints p50/p99 latency, requests/s, their ratios and the tap's
CPU time per request (from /proc). Targets (issue 15): added latency ≤ 1 ms p50, ≤ 5 ms p99,
throughput ≥ 95% of direct.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

GENERATOR = textwrap.dedent(
    """
    import asyncio, base64, json, os, sys, uvicorn
    image = base64.b64encode(b"\\x89PNG\\r\\n\\x1a\\n" + os.urandom(192 * 1024)).decode()
    body = json.dumps({"created": 1, "data": [{"b64_json": image}]}).encode()
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await asyncio.sleep(0.05)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
    """
)

TAP = textwrap.dedent(
    """
    import asyncio, contextlib, sys
    from driftmon.errors import Shed
    from driftmon.sources.tap import Tap, TapConfig
    async def shed(offer):
        raise Shed("busy")
    async def main():
        config = TapConfig(enabled=True, listen=f"127.0.0.1:{sys.argv[1]}",
                           upstream=f"http://127.0.0.1:{sys.argv[2]}", sample_ratio=float(sys.argv[3]))
        async with contextlib.AsyncExitStack() as stack:
            await Tap(config, shed).start(stack)
            await asyncio.Event().wait()
    asyncio.run(main())
    """
)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                await client.post(url, json={"prompt": "warm"})
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def load(url: str, seconds: float, concurrency: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    body = {"prompt": 'a sign that says "BENCH"', "n": 1, "response_format": "b64_json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.post(url, json=body)
                await response.aread()
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, len(latencies)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else float("nan")


async def run_ratio(ratio: float, gen_port: int, seconds: float, concurrency: int) -> None:
    tap_port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tap = subprocess.Popen([sys.executable, "-c", TAP, str(tap_port), str(gen_port), str(ratio)], env=env)
    try:
        direct_url = f"http://127.0.0.1:{gen_port}/v1/images/generations"
        tap_url = f"http://127.0.0.1:{tap_port}/v1/images/generations"
        await wait_up(tap_url)
        results: dict[str, list[float]] = {"direct": [], "tap": []}
        counts = {"direct": 0, "tap": 0}
        cpu = 0.0
        for _ in range(2):  # alternate, so both see the same machine
            for name, url in (("direct", direct_url), ("tap", tap_url)):
                before = cpu_seconds(tap.pid)
                latencies, count = await load(url, seconds / 2, concurrency)
                if name == "tap":
                    cpu += cpu_seconds(tap.pid) - before
                results[name] += latencies
                counts[name] += count
        direct, tapped = results["direct"], results["tap"]
        print(f"sample_ratio {ratio}:")
        for name, values in results.items():
            print(
                f"  {name:6s} p50 {pct(values, 50):7.2f} ms  p99 {pct(values, 99):7.2f} ms  "
                f"{counts[name] / seconds:7.1f} req/s"
            )
        print(
            f"  added p50 {pct(tapped, 50) - pct(direct, 50):+.2f} ms,"
            f" p99 {pct(tapped, 99) - pct(direct, 99):+.2f} ms;"
            f" throughput ratio {counts['tap'] / counts['direct']:.3f};"
            f" tap CPU {cpu / counts['tap'] * 1000:.2f} ms/request"
        )
    finally:
        tap.terminate()
        tap.wait(10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    gen_port = free_port()
    generator = subprocess.Popen([sys.executable, "-c", GENERATOR, str(gen_port)])
    try:
        await wait_up(f"http://127.0.0.1:{gen_port}/v1/images/generations")
        print(f"{os.cpu_count()} CPUs, {args.concurrency} clients, {args.seconds:g} s per side")
        for ratio in (0.1, 1.0):
            await run_ratio(ratio, gen_port, args.seconds, args.concurrency)
    finally:
        generator.terminate()
        generator.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
