"""Benchmark: HTTP intake under load, against a bare ASGI endpoint on the same server stack.

    python bench/ingest.py [--seconds 30] [--concurrency 8] [--sample-ratio 0.1]

Both servers run in their own process on loopback (uvicorn + Starlette): the daemon (`driftmon
run`, scoring the sampled share on this machine's CPU meanwhile) and a bare endpoint that reads
the same bodies and answers 202. One load generator posts the same 512×512 PNG samples (JSON,
base64, fresh request ids) to each for `--seconds`. Prints accepted samples/s, p50/p99 latency,
shed count and the daemon's RSS at start and end. Targets: ≥ 50% of the baseline's throughput,
p99 ≤ 50 ms, RSS growth ≤ 10%.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import yaml
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.servers import free_port, wait_until

BARE_APP = textwrap.dedent("""
    import sys, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def accept(request):
        await request.body()
        return JSONResponse({"id": "x", "sampled": False}, status_code=202)

    async def healthz(request):
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/v1/samples", accept, methods=["POST"]), Route("/healthz", healthz)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
""")


def sample_bodies(count: int = 8) -> list[dict[str, object]]:
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 48)
    bodies = []
    for index in range(count):
        img = Image.new("RGB", (512, 512), (230, 230 - index * 5, 210))
        ImageDraw.Draw(img).text((40, 200), f"SALE {index}", font=font, fill=(10, 10, 10))
        noise = (np.random.default_rng(index).random((512, 512, 3)) * 12).astype(np.uint8)
        img = Image.fromarray(np.clip(np.asarray(img) - noise, 0, 255).astype(np.uint8))
        buffer = io.BytesIO()
        img.save(buffer, format="PNG")
        bodies.append(
            {
                "image_b64": base64.b64encode(buffer.getvalue()).decode(),
                "prompt": f'a poster that says "SALE {index}"',
                "model_version": "bench",
                "latency_seconds": 0.1,
            }
        )
    return bodies


async def load(
    url: str, bodies: list[dict[str, object]], seconds: float, concurrency: int
) -> dict[str, float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient, offset: int) -> None:
        index = offset
        while time.monotonic() < deadline:
            body = {**bodies[index % len(bodies)], "request_id": uuid.uuid4().hex}
            started = time.perf_counter()
            response = await client.post(url, json=body)
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            index += 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        started = time.monotonic()
        await asyncio.gather(*(worker(client, i) for i in range(concurrency)))
        elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "accepted_per_s": statuses.get(202, 0) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "shed": statuses.get(429, 0),
        "other": sum(v for k, v in statuses.items() if k not in (202, 429)),
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_daemon(tmp: Path, port: int, ratio: float) -> subprocess.Popen[bytes]:
    config = {
        "server": {"host": "127.0.0.1"},
        "store": {"path": str(tmp / "db.sqlite")},
        "artifacts": {"dir": str(tmp / "artifacts")},
        "sources": {"push": {"sample_ratio": ratio}},
        "scoring": {"device": "cpu", "batch_size": 4},
        "logging": {"level": "warning", "format": "json"},
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "driftmon", "run", "--config", str(path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "daemon.log").open("wb"),
    )
    wait_until(
        lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200, 300, what="daemon ready"
    )
    return process


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sample-ratio", type=float, default=0.1)
    args = parser.parse_args()
    bodies = sample_bodies()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bare_port, daemon_port = free_port(), free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE_APP, str(bare_port)])
        daemon = start_daemon(tmp, daemon_port, args.sample_ratio)
        try:
            wait_until(lambda: httpx.get(f"http://127.0.0.1:{bare_port}/healthz").status_code == 200, 30)
            base = asyncio.run(
                load(f"http://127.0.0.1:{bare_port}/v1/samples", bodies, args.seconds, args.concurrency)
            )
            rss_start = rss_mib(daemon.pid)
            ours = asyncio.run(
                load(f"http://127.0.0.1:{daemon_port}/v1/samples", bodies, args.seconds, args.concurrency)
            )
            rss_end = rss_mib(daemon.pid)
        finally:
            for process in (bare, daemon):
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=120)
    print(
        f"machine: {os.cpu_count()} CPUs; {args.seconds:.0f}s per server, concurrency {args.concurrency}, "
        f"sample_ratio {args.sample_ratio}"
    )
    for name, result in (("bare ASGI endpoint", base), ("driftmon", ours)):
        print(
            f"{name:>18}: {result['accepted_per_s']:.1f} accepted/s  p50 {result['p50_ms']:.1f} ms  "
            f"p99 {result['p99_ms']:.1f} ms  shed {result['shed']:.0f}  other {result['other']:.0f}"
        )
    growth = (rss_end - rss_start) / rss_start
    print(f"driftmon RSS: {rss_start:.0f} MiB at start, {rss_end:.0f} MiB at end ({growth:+.1%})")
    print(
        f"ratio={ours['accepted_per_s'] / base['accepted_per_s']:.3f} p99_ms={ours['p99_ms']:.1f} "
        f"rss_growth={growth:.3f} (targets: ratio >= 0.5, p99 <= 50 ms, rss growth <= 0.10)"
    )


if __name__ == "__main__":
    main()
