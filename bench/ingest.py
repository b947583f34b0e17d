"""Benchmark: HTTP intake under load, against a bare ASGI endpoint, with scoring in its own process.

    python bench/ingest.py [--scorer fake|easyocr] [--sample-ratio 0.1] [--rounds 4]
                           [--round-seconds 8] [--concurrency 8]

Servers, each its own process on loopback (uvicorn + Starlette):
- `bare`: an endpoint that reads the same bodies and answers 202;
- `driftmon`: the daemon as `driftmon run` builds it: intake appends every sampled sample to the
  intake journal (fsync) before its 202, and the scorer process scores them meanwhile (`fake`: the
  light scorer of tests/fakes/scorer.py; `easyocr`: the real OCR and composition checks on CPU);
- `no journal` (with `--scorer fake`): the same daemon with `Journal.append` a no-op, so the
  difference to `driftmon` is the journal's cost (append, claim, complete, and the scoring it feeds).
One load generator posts the same 512x512 PNG samples (JSON, base64, fresh request ids) to each,
interleaved (bare, driftmon, no journal, bare, ...) for `--rounds` rounds of `--round-seconds`, so
the load of a shared machine hits every side alike. Prints accepted samples/s, p50/p99 latency,
shed count per server, the ratios, and the load average before and after.
Targets: driftmon >= 0.8x bare's accepted/s and p99 <= 2x bare's; the journal costs <= 10% of
throughput at sample_ratio 0.1.
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
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import yaml
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.servers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]

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

#: the daemon as `driftmon run` builds it; argv: config, port, scorer (fake|easyocr), journal (on|off)
DAEMON = textwrap.dedent("""
    import asyncio, sys
    from driftmon.config import load_config
    from driftmon.daemon import Daemon
    from driftmon.logs import configure_logging

    config_path, port, scorer, journal = sys.argv[1:5]
    if journal == "off":
        from driftmon.store.journal import Journal
        Journal.append = lambda self, sample: 0  # intake validates as always and writes nothing
    factory = None  # the configured scorer: EasyOCR and the composition checks
    if scorer == "fake":
        from tests.fakes.scorer import FakeScorer as factory
    config = load_config(config_path)
    configure_logging(config.logging.level, config.logging.format)
    asyncio.run(Daemon(config, port=int(port), nvml=False, scorer_factory=factory).serve())
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


@dataclass
class Round:
    """One server's answers during one round."""

    latencies: list[float]
    elapsed: float
    statuses: dict[int, int]


async def load(url: str, bodies: list[dict[str, object]], seconds: float, concurrency: int) -> Round:
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
    return Round(latencies, elapsed, statuses)


def start_bare(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", BARE_APP, str(port)])
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(f"{url}/healthz").status_code == 200, 60, what="bare endpoint")
    return process, url


def start_daemon(
    tmp: Path, name: str, ratio: float, scorer: str, journal: str
) -> tuple[subprocess.Popen[bytes], str]:
    """A daemon in `tmp/name`; returns once /readyz is 200 and its scorer process is up."""
    home = tmp / name
    home.mkdir()
    config = {
        "server": {"host": "127.0.0.1"},
        "store": {"path": str(home / "db.sqlite")},
        "artifacts": {"dir": str(home / "artifacts")},
        "sources": {"push": {"sample_ratio": ratio}},
        "scoring": {"device": "cpu", "batch_size": 4},
        "logging": {"level": "warning", "format": "json"},
    }
    path = home / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", DAEMON, str(path), str(port), scorer, journal],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(home / "daemon.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"

    def scorer_up() -> bool:
        answer = httpx.get(f"{url}/readyz")
        return answer.status_code == 200 and bool(answer.json()["scorer"]["up"])

    wait_until(scorer_up, 600, what=f"{name} ready with its scorer up")
    return process, url


def merged(rounds: list[Round]) -> dict[str, float]:
    """One server's rounds as one run: accepted/s over their total time, percentiles over all."""
    latencies = sorted(x for r in rounds for x in r.latencies)
    elapsed = sum(r.elapsed for r in rounds)
    count = {status: sum(r.statuses.get(status, 0) for r in rounds) for s in rounds for status in s.statuses}
    return {
        "accepted_per_s": count.get(202, 0) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "shed": count.get(429, 0),
        "other": sum(n for status, n in count.items() if status not in (202, 429)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scorer", choices=("fake", "easyocr"), default="fake")
    parser.add_argument("--sample-ratio", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--round-seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    bodies = sample_bodies()
    load_before = os.getloadavg()
    results: dict[str, list[Round]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        try:
            servers["bare"] = start_bare(tmp)
            servers["driftmon"] = start_daemon(tmp, "driftmon", args.sample_ratio, args.scorer, "on")
            if args.scorer == "fake":
                servers["no journal"] = start_daemon(tmp, "no-journal", args.sample_ratio, "fake", "off")
            for _ in range(args.rounds):
                for name, (_, url) in servers.items():
                    run = load(f"{url}/v1/samples", bodies, args.round_seconds, args.concurrency)
                    results.setdefault(name, []).append(asyncio.run(run))
        finally:
            for process, _ in servers.values():
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=120)
    report(args, {name: merged(rounds) for name, rounds in results.items()}, load_before, os.getloadavg())


def report(
    args: argparse.Namespace,
    runs: dict[str, dict[str, float]],
    before: tuple[float, ...],
    after: tuple[float, ...],
) -> None:
    print(
        f"machine: {os.cpu_count()} CPUs, load average {before[0]:.1f} before, {after[0]:.1f} after; "
        f"scorer {args.scorer}; sample_ratio {args.sample_ratio}; {args.rounds} interleaved rounds of "
        f"{args.round_seconds:g} s per server; concurrency {args.concurrency}"
    )
    for name, r in runs.items():
        print(
            f"{name:>11}: {r['accepted_per_s']:.1f} accepted/s  p50 {r['p50_ms']:.1f} ms  "
            f"p99 {r['p99_ms']:.1f} ms  shed {r['shed']:.0f}  other {r['other']:.0f}"
        )
    bare, ours = runs["bare"], runs["driftmon"]
    print(
        f"driftmon/bare: accepted/s x{ours['accepted_per_s'] / bare['accepted_per_s']:.2f} (target >= 0.8), "
        f"p99 x{ours['p99_ms'] / bare['p99_ms']:.2f} (target <= 2)"
    )
    if "no journal" in runs:
        without = runs["no journal"]
        cost = 1 - ours["accepted_per_s"] / without["accepted_per_s"]
        print(
            f"journal cost: {cost:+.1%} of accepted/s (target <= 10% at sample_ratio 0.1), "
            f"p99 x{ours['p99_ms'] / without['p99_ms']:.2f}"
        )


if __name__ == "__main__":
    main()
