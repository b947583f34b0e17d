"""`driftmon demo`: the synthetic generator, the daemon and a model swap, live in the terminal.

Timeline: v1 serves traffic; at `swap_at` seconds the generator swaps to v2 (garbled text, text
in the margin, ~320 ms); at `swap_back_at` it swaps back. Traffic is "production" requests sent
through the daemon's tap (`sources.tap` on `tap_port`: the no-code path, the generator unchanged
and pushing nothing), which proxies them to the generator and samples the answers (the model
version from the answer's ``X-Model-Version`` header), plus the daemon's own canary probes. The
view reads the daemon's public API (`/v1/samples/recent`, `/v1/alerts`), as a dashboard would.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from driftmon.config import Config
from driftmon.daemon import Daemon
from driftmon.demo.generator import DemoGenerator, make_generator_app
from driftmon.signals import MARGIN_VIOLATION, TEXT_FIDELITY

DEMO_RULES = Path(__file__).resolve().parent / "rules.yaml"
DEMO_PROBES = Path(__file__).resolve().parent / "probes.yaml"
PROMPTS = (
    'a bakery storefront with a sign that says "FRESH BREAD DAILY"',
    'a neon sign reading "OPEN 24 HOURS" above a diner',
    'a street poster that says "SUMMER SALE"',
    'a chalkboard menu that says "COFFEE 3 EURO"',
    'a wooden sign at a trailhead saying "LAKE VIEW 2 KM"',
    'a shop window with the words "CLOSING DOWN"',
)


@dataclass(frozen=True)
class DemoPlan:
    """Ports, timeline and traffic rate of one demo run."""

    port: int = 9844
    generator_port: int = 9845
    #: the daemon's tap, in front of the generator: production traffic goes here
    tap_port: int = 9850
    duration: float = 240.0
    swap_at: float = 70.0
    swap_back_at: float = 170.0
    rate: float = 0.5
    size: int = 384
    data_dir: Path | None = None


def demo_config(plan: DemoPlan, data_dir: Path) -> Config:
    """The daemon's configuration for the demo: loopback, the tap + push + probes, the demo rules."""
    return Config.model_validate(
        {
            "server": {"host": "127.0.0.1", "port": plan.port, "shutdown_grace": 5},
            "store": {"path": str(data_dir / "driftmon.db")},
            "artifacts": {"dir": str(data_dir / "artifacts")},
            "sources": {
                "push": {"sample_ratio": 1.0},
                "tap": {
                    "enabled": True,
                    "listen": f"127.0.0.1:{plan.tap_port}",
                    "upstream": f"http://127.0.0.1:{plan.generator_port}",
                    "sample_ratio": 1.0,
                    "model_version_header": "X-Model-Version",
                },
                "probe": {
                    "enabled": True,
                    "interval": 60,
                    "prompts": str(DEMO_PROBES),
                    "generator": {
                        "kind": "openai_images",
                        "url": f"http://127.0.0.1:{plan.generator_port}",
                        "model_version_path": "model_version",
                    },
                },
            },
            "scoring": {"device": "auto", "queue_size": 64, "batch_size": 2},
            "rules": {
                "paths": [str(DEMO_RULES)],
                "evaluation_interval": 5,
                "baseline_min_samples": 10,
                "baseline_window": 600,
            },
            "logging": {"level": "warning", "format": "json"},
        }
    )


def phase(plan: DemoPlan, elapsed: float) -> str:
    """The model version the timeline asks for at `elapsed` seconds."""
    return "v2" if plan.swap_at <= elapsed < plan.swap_back_at else "v1"


async def drive_traffic(plan: DemoPlan, generator: DemoGenerator, stop: asyncio.Event) -> None:
    """Production traffic to the generator's OpenAI API through the tap, swapping versions on
    schedule."""
    rng = random.Random(1)
    started = time.monotonic()
    url = f"http://127.0.0.1:{plan.tap_port}/v1/images/generations"
    async with httpx.AsyncClient(timeout=30.0) as client:
        while not stop.is_set():
            wanted = phase(plan, time.monotonic() - started)
            if generator.version != wanted:
                generator.set_version(wanted)
            body = {
                "prompt": rng.choice(PROMPTS),
                "size": f"{plan.size}x{plan.size}",
                "response_format": "b64_json",
                "seed": rng.randrange(1 << 30),
            }
            with contextlib.suppress(httpx.HTTPError):
                await client.post(url, json=body)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0 / plan.rate)


def summarise(samples: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per model version: count, mean fidelity, p50 latency, failing share (pure)."""
    by_version: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in samples:
        by_version[sample["model_version"]].append(sample)
    summary = {}
    for version, items in sorted(by_version.items()):
        fidelity = [
            s["scores"][TEXT_FIDELITY] for s in items if s["scores"].get(TEXT_FIDELITY) is not None
        ]
        latency = [s["latency_seconds"] for s in items if s.get("latency_seconds") is not None]
        summary[version] = {
            "samples": len(items),
            "fidelity": statistics.fmean(fidelity) if fidelity else float("nan"),
            "latency_p50": statistics.median(latency) if latency else float("nan"),
            "failing": sum(1 for s in items if s["failing"]) / len(items),
            "margin": sum(1 for s in items if s["scores"].get(MARGIN_VIOLATION) == 1.0) / len(items),
        }
    return summary


def render_view(
    plan: DemoPlan,
    elapsed: float,
    summary: dict[str, dict[str, float]],
    alerts: list[dict[str, Any]],
    ready: bool,
) -> Group:
    """The live terminal view."""
    table = Table(title="recent samples by model version (last 200)", expand=True)
    for column in ("model", "samples", "text fidelity", "p50 latency", "failing", "text in margin"):
        table.add_column(column, justify="right")
    for version, row in summary.items():
        colour = "green" if row["fidelity"] >= 0.85 else "red"
        table.add_row(
            version,
            f"{row['samples']:.0f}",
            Text(f"{row['fidelity']:.2f}", style=colour),
            f"{row['latency_p50'] * 1000:.0f} ms",
            f"{row['failing']:.0%}",
            f"{row['margin']:.0%}",
        )
    alert_table = Table(title="alerts", expand=True)
    for column in ("alert", "state", "model", "since", "summary"):
        alert_table.add_column(column)
    for alert in alerts:
        style = {"firing": "bold red", "pending": "yellow"}.get(alert["state"], "green")
        alert_table.add_row(
            alert["labels"].get("alertname", "?"),
            Text(alert["state"], style=style),
            alert["labels"].get("model_version", ""),
            str(alert.get("startsAt") or alert.get("activeAt")),
            alert["annotations"].get("summary", ""),
        )
    status = "models loading…" if not ready else f"generator serving {phase(plan, elapsed)}"
    header = Text(
        f"driftmon demo  t={elapsed:5.0f}s  {status}  (swap to v2 at {plan.swap_at:.0f}s, "
        f"back to v1 at {plan.swap_back_at:.0f}s)",
        style="bold",
    )
    footer = Text(
        f"traffic through the tap :{plan.tap_port} → generator :{plan.generator_port} · "
        f"metrics http://127.0.0.1:{plan.port}/metrics · samples /v1/samples/recent · "
        f"alerts /v1/alerts · pictures /v1/samples/<id>/overlay.png · Ctrl-C stops"
    )
    return Group(header, table, alert_table, footer)


async def _poll(
    client: httpx.AsyncClient, base: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    try:
        samples = (await client.get(f"{base}/v1/samples/recent", params={"limit": 200})).json()
        alerts = (await client.get(f"{base}/v1/alerts")).json()
        ready = (await client.get(f"{base}/readyz")).status_code == 200
    except (httpx.HTTPError, ValueError):
        return [], [], False
    return samples, alerts, ready


async def run_demo(plan: DemoPlan, live: bool = True) -> dict[str, dict[str, float]]:
    """Run the demo; returns the last per-version summary (for tests and the closing line)."""
    data_dir = plan.data_dir or Path(tempfile.mkdtemp(prefix="driftmon-demo-"))
    daemon = Daemon(demo_config(plan, data_dir))
    generator = DemoGenerator()  # pushes nothing: the tap samples what it serves
    gen_server = uvicorn.Server(
        uvicorn.Config(
            make_generator_app(generator),
            host="127.0.0.1",
            port=plan.generator_port,
            log_config=None,
            access_log=False,
        )
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(daemon.serve()), asyncio.create_task(gen_server.serve())]
    traffic = asyncio.create_task(drive_traffic(plan, generator, stop))
    base = f"http://127.0.0.1:{plan.port}"
    summary: dict[str, dict[str, float]] = {}
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            with Live(refresh_per_second=2, transient=False) if live else contextlib.nullcontext() as view:
                while (elapsed := time.monotonic() - started) < plan.duration:
                    samples, alerts, ready = await _poll(client, base)
                    summary = summarise(samples) if samples else summary
                    if view is not None:
                        view.update(Panel(render_view(plan, elapsed, summary, alerts, ready)))
                    await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.wait({traffic}, timeout=10)
        daemon.stop()
        gen_server.should_exit = True
        await asyncio.wait(set(tasks), timeout=30)
    return summary
