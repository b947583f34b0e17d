"""Rule files and the running daemon: a broken file stops the start; on SIGHUP it is reported
and the previous rules stay."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.servers import free_port, running, start_daemon, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.integration]

GOOD = """
groups:
  - name: quality
    interval: 5s
    rules:
      - alert: TextFidelityLow
        expr: fidelity < 0.85
        for: 1m
"""
BROKEN = """
groups:
  - name: quality
    rules:
      - alert: TextFidelityLow
        expr: fidelity < < 0.85
"""


def config(tmp: Path, rules: Path) -> dict:
    return {
        "server": {"host": "127.0.0.1"},
        "store": {"path": str(tmp / "db.sqlite")},
        "artifacts": {"dir": str(tmp / "art")},
        "rules": {"paths": [str(rules)]},
        "scoring": {"device": "cpu"},
    }


def test_broken_rule_file_stops_the_start(tmp_path: Path) -> None:
    """`driftmon run` with a broken rule file exits non-zero with file:line:col and no traceback."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(BROKEN)
    config_path = tmp_path / "driftmon.yaml"
    config_path.write_text(yaml.safe_dump(config(tmp_path, rules)))
    proc = subprocess.run(
        [sys.executable, "-m", "driftmon", "run", "--config", str(config_path), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert f"{rules}:6:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sighup_reload_keeps_previous_rules_on_error(tmp_path: Path) -> None:
    """A broken file on SIGHUP is reported in /v1/rules and the previous rules keep running."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(GOOD)
    daemon = start_daemon(tmp_path, config(tmp_path, rules), free_port(), wait_ready=False)
    with running(daemon):

        def status() -> dict:
            return httpx.get(f"{daemon.url}/v1/rules", timeout=5).json()

        rules.write_text(BROKEN)
        daemon.process.send_signal(signal.SIGHUP)
        wait_until(lambda: status().get("reload_error"), 30, what="reload error reported")
        assert ":6:" in status()["reload_error"]
        assert "TextFidelityLow" in str(status()["groups"])
        rules.write_text(GOOD.replace("TextFidelityLow", "FidelityBelowTarget"))
        daemon.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "FidelityBelowTarget" in str(status()["groups"]), 30, what="reloaded rules")
        assert not status().get("reload_error")
        assert daemon.process.poll() is None
