"""Prometheus for the dashboard-query test, on top of tests/integration/servers.py.

servers.py starts the generator and runs processes; this adds what the dashboard needs from
Prometheus: targets carrying the `namespace` and `pod` labels the Operator would add, and the
label-values API that Grafana's label_values() variables use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.integration.servers import PROMETHEUS, Proc, free_port, http_ok, start, wait_until

ROOT = Path(__file__).resolve().parents[2]


class Prometheus:
    """A real Prometheus scraping `targets` (static_configs entries, labels included) every second,
    evaluating the rules of `rule_files`."""

    def __init__(
        self, workdir: Path, targets: list[dict[str, Any]], rule_files: tuple[Path, ...] = ()
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.targets = targets
        self.rule_files = rule_files
        self.proc: Proc | None = None

    def start(self) -> Proc:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [{"job_name": "driftmon", "static_configs": self.targets}],
        }
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config), "utf-8")
        command = [
            PROMETHEUS,
            f"--config.file={path}",
            f"--storage.tsdb.path={self.workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.proc = start(command, self.workdir / "prometheus.log", self.url)
        wait_until(http_ok(f"{self.url}/-/ready"), 60, what="prometheus")
        return self.proc

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The series `expr` evaluates to now (a scalar as one item)."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10.0)
        payload = response.json()
        if response.status_code != 200 or payload.get("status") != "success":
            raise AssertionError(f"query failed ({response.status_code}): {expr}\n{payload.get('error')}")
        data = payload["data"]
        return list(data["result"]) if data["resultType"] in ("vector", "matrix") else [data["result"]]

    def label_values(self, label: str, match: str) -> list[str]:
        """What Grafana's label_values(match, label) lists."""
        response = httpx.get(
            f"{self.url}/api/v1/label/{label}/values", params={"match[]": match}, timeout=10.0
        )
        response.raise_for_status()
        return list(response.json()["data"])
