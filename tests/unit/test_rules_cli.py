"""`driftmon rules check|test` and `driftmon baseline pin|list|unpin` through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftmon.rules.cli import baseline_app, rules_app
from driftmon.samples import SampleMeta, ScoredSample
from driftmon.store import Store

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_check_shipped_rules() -> None:
    """The shipped rules check clean (exit 0, a summary line)."""
    result = runner.invoke(rules_app, ["check", str(REPO / "rules")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 9 rules in 4 groups")


def test_check_prints_every_error_and_exits_1(tmp_path: Path) -> None:
    """Each problem is one `file:line:col: message` line on stderr; exit code 1."""
    path = tmp_path / "bad.yaml"
    path.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: fidelity <\n"
                    "      - alert: B\n        expr: fidelity < 0.8\n        for: soon\n")  # fmt: skip
    result = runner.invoke(rules_app, ["check", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:5:25: unexpected end of expression",
        f"{path}:8:14: for: not a duration: 'soon' (use e.g. 30s, 5m, 1h)",
    ]


def test_rules_test_passes_on_shipped_tests() -> None:
    """`rules test rules/driftmon.test.yaml` runs every test and passes."""
    result = runner.invoke(rules_app, ["test", str(REPO / "rules" / "driftmon.test.yaml")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) >= 5 and all(line.startswith("ok  ") for line in lines)


def test_rules_test_reports_a_wrong_expectation(tmp_path: Path) -> None:
    """A test expecting an alert at the wrong time fails with what was expected and what fired."""
    (tmp_path / "r.yaml").write_text(
        "groups:\n  - name: g\n    interval: 1m\n    rules:\n      - alert: Low\n"
        "        expr: fidelity < 0.85\n        for: 2m\n        labels: {severity: page}\n"
    )
    (tmp_path / "r.test.yaml").write_text(
        "rule_files: [r.yaml]\nevaluation_interval: 1m\ntests:\n  - name: t\n    interval: 1m\n"
        "    input_series:\n      - series: 'fidelity{source=\"push\"}'\n        values: '0.5x10'\n"
        "    alert_rule_test:\n      - eval_time: 1m\n        alertname: Low\n"
        "        exp_alerts: [{exp_labels: {severity: page}}]\n"
        "      - eval_time: 2m\n        alertname: Low\n"
        "        exp_alerts: [{exp_labels: {severity: page}}]\n"
    )
    result = runner.invoke(rules_app, ["test", str(tmp_path / "r.test.yaml")])
    assert result.exit_code == 1
    assert "FAIL" in result.stdout
    assert result.stderr.count("expected firing") == 1
    assert "Low at 1m: expected firing [{'severity': 'page'}], got []" in result.stderr


def write_config(tmp_path: Path) -> Path:
    """A config file pointing the store into tmp_path, with three model versions stored."""
    config = tmp_path / "config.yaml"
    db = tmp_path / "d.db"
    config.write_text(
        f"store: {{path: {db}}}\nrules: {{paths: [{REPO / 'rules'}], baseline_min_samples: 2}}\n"
    )
    store = Store(db)
    import time

    now = time.time()
    for index, version in enumerate(["v1", "v1", "v1", "v2", "v2", "v3"]):
        meta = SampleMeta(model_version=version)
        store.add(
            ScoredSample(
                f"s{index}", "push", now - 600 + index, now, meta, {"text_fidelity": 0.9}, "", "", {}, False
            )
        )
    store.close()
    return config


def test_baseline_pin_list_unpin(tmp_path: Path) -> None:
    """pin stores the version's samples; list shows it and each version's automatic baseline; unpin."""
    config = write_config(tmp_path)
    result = runner.invoke(
        baseline_app, ["pin", "--model-version", "v1", "--window", "1h", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "pinned v1: 3 samples of the last 1h"
    listed = runner.invoke(baseline_app, ["list", "--json", "--config", str(config)])
    data = json.loads(listed.stdout)
    assert data["pinned"]["model_version"] == "v1" and data["pinned"]["readings"] == 3
    assert [(v["model_version"], v["baseline"]) for v in data["versions"]] == [
        ("v1", None),
        ("v2", "v1"),
        ("v3", "v2"),
    ]
    assert runner.invoke(baseline_app, ["unpin", "--config", str(config)]).stdout.strip() == "unpinned"
    again = json.loads(runner.invoke(baseline_app, ["list", "--json", "--config", str(config)]).stdout)
    assert again["pinned"] is None


@pytest.mark.parametrize(("version", "window"), [("v9", "1h"), ("v1", "1 hour")])
def test_baseline_pin_errors(tmp_path: Path, version: str, window: str) -> None:
    """Pinning a version without samples, or with a bad window, exits 1 with a message."""
    config = write_config(tmp_path)
    result = runner.invoke(
        baseline_app, ["pin", "--model-version", version, "--window", window, "--config", str(config)]
    )
    assert result.exit_code == 1 and result.stderr.strip()
