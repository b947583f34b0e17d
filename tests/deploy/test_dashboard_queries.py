"""Every dashboard query returns series from a real Prometheus that scraped a real daemon.

The run: the synthetic generator serves "production" requests and pushes each output to the
daemon, which also probes it with the canary prompts; halfway through, the generator's model is
swapped to v2 (garbled text, slower), as in the incident driftmon exists for. The daemon scores on
the CPU with EasyOCR, tiny random CLIP and OWLv2 checkpoints (so the alignment, embedding-drift
and object-count families exist) and NVML answered from the recorded H200. Prometheus scrapes it
every second with the `namespace` and `pod` labels the Operator would add, and evaluates the
chart's exported rules (the Cost row reads their standing recording rules).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.integration.servers import free_port, http_ok, running, start, start_generator, wait_until

from .chart import EXPORTED_RULES
from .dashboard import load, queries, substitute
from .processes import ROOT, Prometheus
from .tiny_models import tiny_clip, tiny_owlv2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAMESPACE, POD = "imagegen", "gen-0"
RATE_INTERVAL = "1m"
#: how long the run may take to give every query a series
SERIES_DEADLINE_S = 360.0
#: v1 samples scored before the model swap: ModelSwapRegression compares v2 with v1 only when
#: each has its min_samples (20) in the window
BEFORE_SWAP = 25
PROMPTS = (
    'a shop door with a small sign that says "OPEN"',
    'two cats sitting under a wooden sign reading "CAT CAFE"',
    'a poster on a wall with the words "SUMMER SALE"',
    'a delivery van with "FAST PARCEL" painted on its side',
    'three red apples beside a price tag that says "ONE DOLLAR"',
)
#: two small canaries: enough for the probe families, cheap on a CPU shared with Prometheus
PROBES = {
    "probes": [
        {
            "name": "open-sign",
            "prompt": 'a shop door with a small sign that says "OPEN"',
            "seed": 1,
            "size": "256x256",
        },
        {
            "name": "cafe-cups",
            "prompt": 'two cups on a cafe table under a sign "COFFEE"',
            "seed": 2,
            "size": "256x256",
        },
    ]
}
DRIFT_RULES = {
    "groups": [
        {
            "name": "dashboard-test-drift",
            "interval": "2s",
            "rules": [
                {
                    "alert": "FidelityDistributionDrift",
                    "expr": 'drift(fidelity[10m], baseline, method="ks") > 0.5',
                    "by": ["model_version"],
                    "min_samples": 5,
                    "labels": {"severity": "ticket"},
                }
            ],
        }
    ]
}


def daemon_config(tmp: Path, port: int, generator_url: str, models: dict[str, Path]) -> dict[str, Any]:
    state = tmp / "state"
    return {
        "server": {"host": "127.0.0.1", "port": port},
        "store": {"path": str(state / "driftmon.db")},
        "artifacts": {"dir": str(state / "artifacts")},
        "sources": {
            "push": {"enabled": True},
            "probe": {
                "enabled": True,
                "interval": "30s",
                "prompts": str(tmp / "probes.yaml"),
                "generator": {
                    "kind": "openai_images",
                    "url": generator_url,
                    "model_version_path": "model_version",
                },
            },
        },
        "scoring": {
            "device": "cpu",
            "work_dir": str(state / "ocr"),
            "composition": {
                "clip_dir": str(models["clip"]),
                "detector_dir": str(models["detector"]),
                "drift_min_samples": 4,
                "drift_window": 50,
            },
        },
        "rules": {
            "paths": [str(ROOT / "rules"), str(tmp / "extra-rules")],
            "evaluation_interval": "2s",
            "baseline_min_samples": 5,
        },
        "alerting": {
            # nobody listens there: notifications fail and are counted, which is all we need
            "receivers": [{"kind": "webhook", "name": "test-hook", "url": f"http://127.0.0.1:{free_port()}/"}]
        },
        "logging": {"format": "json", "level": "info"},
    }


class Traffic(threading.Thread):
    """Production requests to the generator, one at a time, swapping the model after a while."""

    def __init__(self, generator_url: str, daemon_url: str) -> None:
        super().__init__(daemon=True)
        self.generator_url = generator_url
        self.daemon_url = daemon_url
        self.stop = threading.Event()
        self.sent = 0
        self.swapped = False

    def scored(self) -> float:
        total = 0.0
        for line in httpx.get(f"{self.daemon_url}/metrics", timeout=10.0).text.splitlines():
            if line.startswith("driftmon_samples_total{") and 'outcome="scored"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def run(self) -> None:
        while not self.stop.is_set():
            prompt = PROMPTS[self.sent % len(PROMPTS)]
            body = {"prompt": prompt, "size": "256x256", "seed": self.sent, "response_format": "b64_json"}
            response = httpx.post(f"{self.generator_url}/v1/images/generations", json=body, timeout=60.0)
            response.raise_for_status()
            self.sent += 1
            if not self.swapped and self.scored() >= BEFORE_SWAP:
                swap = httpx.post(f"{self.generator_url}/admin/model", json={"version": "v2"}, timeout=10.0)
                swap.raise_for_status()
                self.swapped = True
            self.stop.wait(1.5)


@pytest.fixture(scope="module")
def scraped_run(tmp_path_factory):
    """A generator, a daemon and Prometheus running, with traffic flowing, until the module ends."""
    tmp = tmp_path_factory.mktemp("dashboard-run")
    models = {"clip": tiny_clip(tmp / "models"), "detector": tiny_owlv2(tmp / "models")}
    (tmp / "probes.yaml").write_text(yaml.safe_dump(PROBES), "utf-8")
    (tmp / "extra-rules").mkdir()
    (tmp / "extra-rules" / "drift.yaml").write_text(yaml.safe_dump(DRIFT_RULES), "utf-8")
    daemon_port, generator_port = free_port(), free_port()
    daemon_url = f"http://127.0.0.1:{daemon_port}"
    generator = start_generator(tmp, generator_port, push_to=f"{daemon_url}/v1/samples", latency_scale=1.0)
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump(daemon_config(tmp, daemon_port, generator.url, models)), "utf-8")
    # one scoring thread leaves the second core to Prometheus, the generator and the test
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    daemon = start(
        [sys.executable, "-m", "tests.deploy.daemon_main", str(config)],
        tmp / "daemon.log",
        daemon_url,
        env,
        ROOT,
    )
    labels = {"namespace": NAMESPACE, "pod": POD}
    targets = [{"targets": [f"127.0.0.1:{daemon_port}"], "labels": labels}]
    prometheus = Prometheus(tmp, targets, rule_files=(EXPORTED_RULES,))
    with running(generator, daemon):
        wait_until(
            lambda: daemon.process.poll() is None and http_ok(f"{daemon_url}/readyz")(),
            300,
            what="daemon ready",
        )
        with running(prometheus.start()):
            traffic = Traffic(generator.url, daemon_url)
            traffic.start()
            try:
                yield prometheus, traffic, tmp
            finally:
                traffic.stop.set()
                traffic.join(timeout=30)


ALL = {"namespace": ".*", "pod": ".*", "model_version": ".*", "source": ".*"}


def empty_queries(prometheus: Prometheus, values: dict[str, Any]) -> list[str]:
    """Panel targets whose query, with `values` substituted, returns no series now."""
    return [
        f"{q.panel} ({q.ref})"
        for q in queries(load())
        if not prometheus.query(substitute(q.expr, values, RATE_INTERVAL))
    ]


def wait_for_series(prometheus: Prometheus, values: dict[str, Any], seconds: float) -> list[str]:
    """Poll until every query returns a series or `seconds` pass; the empty ones.

    When each query first returned a series goes to series-first-seen.json beside the logs.
    """
    start = time.monotonic()
    seen: dict[str, float] = {}
    everything = {f"{q.panel} ({q.ref})" for q in queries(load())}
    empty = empty_queries(prometheus, values)
    while True:
        now = round(time.monotonic() - start, 1)
        seen.update({name: now for name in everything - set(empty) if name not in seen})
        (prometheus.workdir / "series-first-seen.json").write_text(json.dumps(seen, indent=1), "utf-8")
        if not empty or time.monotonic() - start > seconds:
            return empty
        time.sleep(5)
        empty = empty_queries(prometheus, values)


def test_every_panel_query_returns_series(scraped_run):
    """With "All" selected, each panel target returns at least one series during the run."""
    prometheus, traffic, tmp = scraped_run
    empty = wait_for_series(prometheus, ALL, SERIES_DEADLINE_S)
    detail = json.dumps({"requests": traffic.sent, "swapped": traffic.swapped, "empty": empty}, indent=1)
    assert not empty, f"{detail}\n--- daemon log tail ---\n" + (tmp / "daemon.log").read_text()[-3000:]


def test_variables_list_the_scraped_values_and_concrete_selections_work(scraped_run):
    """The variables' label_values() queries list the run's namespace, pod, both model versions
    and both sources; every panel still returns series with those concrete values selected."""
    prometheus, traffic, _ = scraped_run
    deadline = time.monotonic() + 60
    while not traffic.swapped and time.monotonic() < deadline:
        time.sleep(2)
    variables = {v["name"]: v for v in load()["templating"]["list"]}
    assert variables["namespace"]["definition"] == "label_values(driftmon_build_info, namespace)"
    assert prometheus.label_values("namespace", "driftmon_build_info") == [NAMESPACE]
    assert prometheus.label_values("pod", f'driftmon_build_info{{namespace=~"{NAMESPACE}"}}') == [POD]
    pod_selector = f'driftmon_samples_total{{namespace=~"{NAMESPACE}", pod=~"{POD}"}}'
    versions = prometheus.label_values("model_version", pod_selector)
    sources = prometheus.label_values("source", pod_selector)
    assert {"v1", "v2"} <= set(versions)
    assert {"push", "probe"} <= set(sources)
    selected = {
        "namespace": [NAMESPACE],
        "pod": [POD],
        "model_version": ["v1", "v2"],
        "source": sorted(sources),
    }
    assert not empty_queries(prometheus, selected)
