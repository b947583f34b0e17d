"""Fleet mode end to end: three driftmon daemons (`alerting.mode: prometheus`, the light fake scorer)
scraped by one real Prometheus that evaluates the exported rules and routes to one real
Alertmanager grouping by `alertname, model_version` (docs/alerting.md). One model swap on every pod
gives one notification per model version that regressed, not one per pod; the daemons send none.

The rules are test rules with short windows and no `for`, written in driftmon's format and exported
by `driftmon rules export`'s translator, so the fleet aggregation under test is the shipped one.
"""

from __future__ import annotations

import base64
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from driftmon.rules.export import export_rules, to_yaml
from driftmon.rules.model import load_rules
from tests.imaging import png_bytes
from tests.integration.am_harness import Alertmanager, WebhookSink, alertmanager_binary
from tests.integration.servers import PROMETHEUS, Proc, free_port, http_ok, running, start, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(alertmanager_binary() is None, reason="needs prometheus-alertmanager (Debian)"),
    pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="needs prometheus (Debian)"),
]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = base64.b64encode(png_bytes(np.full((48, 48, 3), 230, np.uint8))).decode()
PODS = 3
#: the Alertmanager route docs/alerting.md gives for fleet mode
GROUP_BY = ["alertname", "model_version"]
#: a regression rule on a per-sample signal (the fleet aggregates it by model version) and an
#: infrastructure rule (each pod keeps its own alert)
RULES = {
    "groups": [
        {
            "name": "fleet-test",
            "interval": "1s",
            "rules": [
                {
                    "alert": "FleetLatencyHigh",
                    "expr": "avg(latency_seconds[20s]) > 2",
                    "by": ["model_version"],
                    "min_samples": 3,
                    "labels": {"severity": "critical"},
                    "annotations": {"summary": "latency {{ $value }} on {{ $labels.model_version }}"},
                },
            ],
        }
    ]
}
#: the whole run (daemons up, samples scored, Prometheus evaluating, Alertmanager notifying)
DEADLINE_S = 120.0


def daemon(tmp: Path, index: int, webhook: str) -> Proc:
    home = tmp / f"pod-{index}"
    home.mkdir()
    port = free_port()
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "shutdown_grace": 5},
        "store": {"path": str(home / "data" / "driftmon.db")},
        "artifacts": {"enabled": False},
        "rules": {"paths": [str(tmp / "rules")], "evaluation_interval": "1s"},
        # fleet mode: Prometheus pages; this receiver would count a page per pod if it sent any
        "alerting": {"mode": "prometheus", "receivers": [{"kind": "webhook", "url": webhook}]},
        "logging": {"format": "json"},
    }
    (home / "driftmon.yaml").write_text(yaml.safe_dump(config))
    proc = start(
        [sys.executable, "-m", "tests.fakes.daemon_main", str(home / "driftmon.yaml"), str(port)],
        home / "daemon.log",
        f"http://127.0.0.1:{port}",
        env={"PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    wait_until(http_ok(f"{proc.url}/readyz"), 120, what=f"driftmon pod-{index}")
    return proc


def prometheus(tmp: Path, targets: list[str], alertmanager: str) -> Proc:
    """Prometheus scraping every pod (each with its own `pod` label, as the Operator adds), with the
    exported rules, sending alerts to `alertmanager`."""
    (tmp / "exported.yaml").write_text(to_yaml(export_rules(load_rules([tmp / "rules"]))))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "exported.yaml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": "driftmon",
                "static_configs": [
                    {"targets": [target], "labels": {"namespace": "imagegen", "pod": f"gen-{i}"}}
                    for i, target in enumerate(targets)
                ],
            }
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = start(
        [
            PROMETHEUS,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--rules.alert.resend-delay=1s",
        ],
        tmp / "prometheus.log",
        f"http://127.0.0.1:{port}",
    )
    wait_until(http_ok(f"{proc.url}/-/ready"), 60, what="prometheus")
    return proc


def push(pods: list[Proc], version: str, latency: float, count: int) -> None:
    with httpx.Client(timeout=10) as client:
        for pod in pods:
            for _ in range(count):
                meta = {
                    "expected_text": "OPEN",
                    "model_version": version,
                    "latency_seconds": latency,
                    "request_id": uuid.uuid4().hex,
                }
                answer = client.post(f"{pod.url}/v1/samples", json={"image_b64": IMAGE, **meta})
                assert answer.status_code == 202, answer.text


def firing_groups(sink: WebhookSink) -> list[dict[str, Any]]:
    return [m for m in sink.received() if m.get("status") == "firing"]


def test_one_swap_across_three_pods_pages_once_per_model_version(tmp_path: Path) -> None:
    started = time.monotonic()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "fleet.yaml").write_text(yaml.safe_dump(RULES))
    sink, local_hook = WebhookSink(), WebhookSink()
    alertmanager = Alertmanager(tmp_path, sink.url)
    alertmanager.config.write_text(
        alertmanager.config.read_text().replace("group_by: [alertname]", f"group_by: {GROUP_BY}")
    )
    alertmanager.start()
    pods: list[Proc] = []
    try:
        pods = [daemon(tmp_path, i, local_hook.url) for i in range(PODS)]
        with running(
            *pods,
            prometheus(
                tmp_path,
                [p.url.removeprefix("http://") for p in pods],
                alertmanager.url.removeprefix("http://"),
            ),
        ):
            push(pods, "v1", 0.2, 4)  # the model before the swap: fast
            # the swap, on every pod: five times slower; traffic keeps flowing until Alertmanager
            # notifies (a rate over a 20 s window needs samples arriving)
            deadline = started + DEADLINE_S
            while not firing_groups(sink):
                assert time.monotonic() < deadline, "no notification from Alertmanager in time"
                push(pods, "v2", 5.0, 1)
                time.sleep(0.5)
            time.sleep(5.0)  # room for the duplicates a per-pod page would send
            notifications = firing_groups(sink)
            fired_locally = [p.url for p in pods if _firing_on(p)]
    finally:
        alertmanager.stop()
        sink.close()
        local_hook.close()
    print(
        f"fleet: {len(notifications)} notification(s): "
        + "; ".join(f"{n['groupLabels']} with {len(n['alerts'])} alert(s)" for n in notifications)
    )
    assert [n["groupLabels"] for n in notifications] == [
        {"alertname": "FleetLatencyHigh", "model_version": "v2"}
    ]
    (alert,) = notifications[0]["alerts"]
    assert "pod" not in alert["labels"] and alert["labels"]["severity"] == "critical"
    # every pod's own engine fires too (GET /v1/alerts), yet in prometheus mode none sends
    assert len(fired_locally) == PODS and local_hook.received() == []


def _firing_on(pod: Proc) -> bool:
    alerts = httpx.get(f"{pod.url}/v1/alerts", timeout=5).json()
    return any(a["labels"]["alertname"] == "FleetLatencyHigh" and a["state"] == "firing" for a in alerts)
