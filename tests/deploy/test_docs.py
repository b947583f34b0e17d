"""docs/deploy.md's example Prometheus and Alertmanager configs pass the real tools' checks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DOC = ROOT / "docs" / "deploy.md"


def yaml_block(marker: str) -> str:
    """The fenced YAML block of docs/deploy.md whose first line is the comment `marker`."""
    blocks = re.findall(r"```yaml\n(.*?)```", DEPLOY_DOC.read_text("utf-8"), flags=re.DOTALL)
    found = [block for block in blocks if block.startswith(marker)]
    assert len(found) == 1, f"expected one yaml block starting with {marker!r}"
    return found[0]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.integration
def test_prometheus_scrape_example_passes_promtool(tmp_path):
    """The scrape config for setups without the Operator is a valid Prometheus config.

    Debian's promtool is built without Kubernetes service discovery, so the pod discovery is
    swapped for a static target; the relabelling, where mistakes hide, is checked as written.
    """
    block = yaml_block("# prometheus.yml")
    discovery = "    kubernetes_sd_configs:\n      - role: pod\n"
    assert discovery in block
    path = tmp_path / "prometheus.yml"
    path.write_text(
        block.replace(discovery, "    static_configs:\n      - targets: [127.0.0.1:9844]\n"), "utf-8"
    )
    result = run("promtool", "check", "config", "--syntax-only", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@pytest.mark.integration
def test_alertmanager_routing_example_passes_amtool(tmp_path):
    """The routing example is a valid Alertmanager config (amtool check-config)."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml_block("# alertmanager.yml"), "utf-8")
    result = run("amtool", "check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
