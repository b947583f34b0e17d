"""End to end over loopback: synthetic generator → push and probe → daemon → store, metrics,
pictures; real Prometheus scrapes the daemon and sees the model swap; promtool checks /metrics."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.servers import (
    free_port,
    prom_query,
    running,
    start_daemon,
    start_generator,
    start_prometheus,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PROBES = """
probes:
  - name: open-sign
    prompt: 'a shop door with a sign that says "OPEN"'
    seed: 1001
    size: 384x384
"""
PROMPTS = ['a diner sign that says "OPEN 24 HOURS"', 'a poster that says "SUMMER SALE"']


def daemon_config(tmp: Path, generator_url: str) -> dict:
    probes = tmp / "probes.yaml"
    probes.write_text(PROBES)
    return {
        "server": {"host": "127.0.0.1", "shutdown_grace": "10s"},
        "store": {"path": str(tmp / "data" / "driftmon.db")},
        "artifacts": {"dir": str(tmp / "data" / "artifacts")},
        "sources": {
            "probe": {
                "enabled": True,
                "interval": "5s",
                "prompts": str(probes),
                "generator": {
                    "kind": "openai_images",
                    "url": generator_url,
                    "model_version_path": "model_version",
                },
            }
        },
        "scoring": {"device": "cpu", "batch_size": 4},
        "logging": {"format": "json"},
    }


def generate(generator_url: str, prompt: str, seed: int) -> None:
    body = {"prompt": prompt, "size": "384x384", "response_format": "b64_json", "seed": seed}
    httpx.post(f"{generator_url}/v1/images/generations", json=body, timeout=30).raise_for_status()


def scored(daemon_url: str) -> list[dict]:
    return httpx.get(f"{daemon_url}/v1/samples/recent", params={"limit": 200}, timeout=10).json()


def test_swap_reaches_store_metrics_pictures_and_prometheus(tmp_path: Path) -> None:
    """A v1 → v2 swap shows in the store, in overlays, and in Prometheus split by model_version."""
    daemon_port, generator_port, prom_port = free_port(), free_port(), free_port()
    generator = start_generator(
        tmp_path, generator_port, push_to=f"http://127.0.0.1:{daemon_port}/v1/samples"
    )
    daemon = start_daemon(tmp_path, daemon_config(tmp_path, generator.url), daemon_port)
    prometheus = start_prometheus(tmp_path, [f"127.0.0.1:{daemon_port}"], prom_port)
    with running(prometheus, daemon, generator):
        for seed, prompt in enumerate(PROMPTS):
            generate(generator.url, prompt, seed)
        httpx.post(f"{generator.url}/admin/model", json={"version": "v2"}, timeout=10).raise_for_status()
        for seed, prompt in enumerate(PROMPTS * 2, start=10):
            generate(generator.url, prompt, seed)

        def both_versions_and_a_probe_scored() -> bool:
            samples = scored(daemon.url)
            pushed = [s for s in samples if s["source"] == "push"]
            probed = any(s["source"] == "probe" for s in samples)
            return probed and {"v1", "v2"} <= {s["model_version"] for s in pushed}

        # the journal is scored oldest first, and every push arrives before the first probe
        wait_until(both_versions_and_a_probe_scored, 300, interval=2, what="v1, v2 and probe samples")
        samples = scored(daemon.url)
        fidelity = {
            v: [
                s["scores"]["text_fidelity"]
                for s in samples
                if s["model_version"] == v and s["source"] == "push"
            ]
            for v in ("v1", "v2")
        }
        assert min(fidelity["v1"]) >= 0.9, fidelity
        assert min(fidelity["v2"]) < 0.85, fidelity
        assert any(s["source"] == "probe" for s in samples), "no probe sample was scored"

        failing = [s for s in samples if s["failing"]]
        assert failing and all(s["overlay_url"] for s in failing)
        picture = httpx.get(f"{daemon.url}/v1/samples/{failing[0]['id']}/overlay.png", timeout=10)
        assert picture.status_code == 200
        assert picture.content.startswith(b"\x89PNG")

        def prometheus_sees_both() -> bool:
            series = prom_query(
                prometheus, 'sum by (model_version) (driftmon_text_fidelity_ratio_count{source="push"})'
            )
            return {"v1", "v2"} <= {s["metric"].get("model_version") for s in series}

        wait_until(prometheus_sees_both, 60, interval=1, what="Prometheus to scrape both model versions")

        metrics_text = httpx.get(f"{daemon.url}/metrics", timeout=10).text
        check = subprocess.run(
            ["promtool", "check", "metrics"],
            input=metrics_text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), (
            check.stdout + check.stderr
        )

        assert daemon.stop(signal.SIGTERM, timeout=60) == 0
        assert "driftmon_stopped" in daemon.output()
