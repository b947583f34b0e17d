"""Exported rules against the real promtool: they load, and TextFidelityLow fires at the same
evaluation times, with the same labels and annotations, in Prometheus and in driftmon's engine."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from driftmon.rules.export import export_rules, to_yaml
from driftmon.rules.model import load_rules
from driftmon.rules.ruletest import Point, simulate
from driftmon.signals import GPU_SECONDS_RATE, IMAGES_RATE

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian prometheus)"),
]

REPO = Path(__file__).resolve().parents[2]
STEP = 15.0  # seconds between readings, and between Prometheus scrapes of the histogram
EVAL = 30.0  # the rule group's interval = promtool's evaluation_interval
PHASES = [("v1", 0.92, 0.04, 240), ("v2", 0.63, 0.08, 160), ("v1", 0.92, 0.04, 160)]


def readings() -> list[Point]:
    """A model swap and a swap back: v1 for 1h, v2 for 40 min, v1 again for 40 min; noisy fidelity."""
    rng = np.random.default_rng(4)
    points, index = [], 0
    for version, mean, noise, count in PHASES:
        for _ in range(count):
            index += 1
            value = round(float(np.clip(rng.normal(mean, noise), 0.0, 1.0)), 3)
            points.append(
                Point(index * STEP, "text_fidelity", {"model_version": version, "source": "push"}, value)
            )
    return points


def histogram_series(points: list[Point]) -> list[dict[str, str]]:
    """promtool input: cumulative _sum and _count per model version, scraped every STEP from t=0.

    Each model version's series reads 0 before its first sample (the child exists from the start),
    so that rate() sees every sample, as driftmon's window does.
    """
    scrapes = int(points[-1].ts // STEP) + 1
    series = []
    for version in sorted({p.labels["model_version"] for p in points}):
        mine = [p for p in points if p.labels["model_version"] == version]
        sums, counts = [], []
        for k in range(scrapes):
            upto = [p.value for p in mine if p.ts <= k * STEP]
            sums.append(repr(float(sum(upto))))
            counts.append(str(len(upto)))
        labels = f'model_version="{version}", source="push"'
        series.append({"series": f"driftmon_text_fidelity_ratio_sum{{{labels}}}", "values": " ".join(sums)})
        series.append(
            {"series": f"driftmon_text_fidelity_ratio_count{{{labels}}}", "values": " ".join(counts)}
        )
    return series


def test_exported_rules_pass_promtool_check(tmp_path: Path) -> None:
    """`promtool check rules` accepts the export of the shipped rules (and the CRD's spec)."""
    ruleset = load_rules([REPO / "rules"])
    result = export_rules(ruleset)
    plain = tmp_path / "driftmon.rules.yaml"
    plain.write_text(to_yaml(result))
    crd = yaml.safe_load(to_yaml(result, "prometheusrule", "driftmon"))
    assert (
        crd["kind"] == "PrometheusRule"
        and crd["spec"]["groups"] == yaml.safe_load(plain.read_text())["groups"]
    )
    check = subprocess.run(
        ["promtool", "check", "rules", str(plain)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    exported = {r["alert"] for g in result.groups for r in g["rules"] if "alert" in r}
    skipped = {s.split(" ", 1)[0] for s in result.skipped}
    assert exported | skipped == {r.name for r in ruleset.rules} and not exported & skipped
    assert "TextFidelityLow" in exported


def test_one_rule_two_engines_one_verdict(tmp_path: Path) -> None:
    """At every evaluation, the firing TextFidelityLow alerts of Prometheus (promtool test rules on
    the exported rules) equal those of driftmon's engine on the same readings."""
    ruleset = load_rules([REPO / "rules"])
    points = readings()
    end = points[-1].ts
    times = [k * EVAL for k in range(int(end // EVAL) + 1)]
    snapshots = simulate(ruleset, points, times)
    checks = []
    fired_at = set()
    for at in times:
        firing = [i for i in snapshots[at]["TextFidelityLow"] if i.state == "firing"]
        fired_at.update(i.fired_at for i in firing)
        expected = [
            {
                "exp_labels": {k: v for k, v in i.labels.items() if k != "alertname"},
                "exp_annotations": dict(i.annotations),
            }
            for i in firing
        ]
        checks.append({"eval_time": f"{int(at)}s", "alertname": "TextFidelityLow", "exp_alerts": expected})
    firing_checks = [c for c in checks if c["exp_alerts"]]
    # the engine's verdict is not vacuous: it fires for v2 only, then resolves after the swap back
    assert firing_checks and len(firing_checks) < len(checks) and len(fired_at) == 1
    assert {a["exp_labels"]["model_version"] for c in firing_checks for a in c["exp_alerts"]} == {"v2"}
    (tmp_path / "exported.yaml").write_text(to_yaml(export_rules(ruleset)))
    test_file = {
        "rule_files": ["exported.yaml"],
        "evaluation_interval": f"{int(EVAL)}s",
        "tests": [
            {"interval": f"{int(STEP)}s", "input_series": histogram_series(points), "alert_rule_test": checks}
        ],
    }
    (tmp_path / "equivalence.test.yaml").write_text(yaml.safe_dump(test_file, sort_keys=False, width=10**9))
    run = subprocess.run(
        ["promtool", "test", "rules", "equivalence.test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]


def probe_counter_series(outcomes: list[str]) -> list[dict[str, str]]:
    """promtool input: the probe counter exactly as the daemon exposes it (name and labels taken
    from a real ProbeMetrics registry), scraped every STEP; one probe call per scrape."""
    from prometheus_client import CollectorRegistry

    from driftmon.sources.probe import ProbeMetrics

    registry = CollectorRegistry()
    metrics = ProbeMetrics(registry, ["open-sign"])
    history: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    for outcome in ["ok", *outcomes]:  # t=0: one ok call, so every series starts before a failure
        metrics.requests.labels(probe="open-sign", outcome=outcome).inc()
        for family in registry.collect():
            for sample in family.samples:
                if sample.name.endswith("_total") and "probe" in sample.labels:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    history.setdefault(key, []).append(repr(sample.value))
    return [
        {"series": f"{name}{{{', '.join(f'{k}={v!r}' for k, v in labels)}}}".replace("'", '"'),
         "values": " ".join(values)}
        for (name, labels), values in history.items()
    ]


def test_probe_failing_fires_on_the_series_the_daemon_exposes(tmp_path: Path) -> None:
    """The exported ProbeFailing selects the probe counter by its exposed name
    (driftmon_probe_requests_total), so it fires in Prometheus as in driftmon's engine."""
    ruleset = load_rules([REPO / "rules"])
    calls = 120  # 30 minutes of failing calls, one per STEP
    points = [
        Point((k + 1) * STEP, "probe_failure", {"source": "probe", "probe": "open-sign"}, 1.0)
        for k in range(calls)
    ]
    early, late = 2 * EVAL, 28 * 60.0
    snapshots = simulate(ruleset, points, [early, late])
    firing = [i for i in snapshots[late]["ProbeFailing"] if i.state == "firing"]
    assert len(firing) == 1 and not [i for i in snapshots[early]["ProbeFailing"] if i.state == "firing"]
    expected = [
        {"exp_labels": {k: v for k, v in firing[0].labels.items() if k != "alertname"},
         "exp_annotations": dict(firing[0].annotations)}
    ]
    (tmp_path / "exported.yaml").write_text(to_yaml(export_rules(ruleset)))
    test_file = {
        "rule_files": ["exported.yaml"],
        "evaluation_interval": f"{int(EVAL)}s",
        "tests": [{
            "interval": f"{int(STEP)}s",
            "input_series": probe_counter_series(["failed"] * calls),
            "alert_rule_test": [
                {"eval_time": f"{int(early)}s", "alertname": "ProbeFailing", "exp_alerts": []},
                {"eval_time": f"{int(late)}s", "alertname": "ProbeFailing", "exp_alerts": expected},
            ],
        }],
    }
    (tmp_path / "probe.test.yaml").write_text(yaml.safe_dump(test_file, sort_keys=False, width=10**9))
    run = subprocess.run(
        ["promtool", "test", "rules", "probe.test.yaml"],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]


#: per series: (model_version, source, pod, images per second, seconds of latency per image)
COST_TRAFFIC = [("v1", "push", "gen-0", 2.0, 0.125), ("v1", "probe", "gen-1", 1.0, 0.125),
                ("v2", "push", "gen-0", 0.5, 0.5)]  # fmt: skip


def test_recorded_images_and_gpu_seconds_per_model_version_equal_the_input_rates(tmp_path: Path) -> None:
    """promtool evaluates the export's standing records on latency histograms from two pods and
    two sources: images/s per model version is the summed input rate, GPU-seconds per second the
    summed rate × latency (v2: a quarter of v1's traffic at four times the latency)."""
    series = []
    for version, source, pod, rate, latency in COST_TRAFFIC:
        labels = f'model_version="{version}", source="{source}", pod="{pod}"'
        per_scrape = rate * STEP
        name = "driftmon_generation_latency_seconds"
        series.append({"series": f"{name}_count{{{labels}}}", "values": f"0+{per_scrape!r}x60"})
        series.append({"series": f"{name}_sum{{{labels}}}", "values": f"0+{per_scrape * latency!r}x60"})
    expected = {
        IMAGES_RATE.name: {"v1": 3.0, "v2": 0.5},
        GPU_SECONDS_RATE.name: {"v1": 0.375, "v2": 0.25},
    }
    checks = [
        {
            "expr": record,
            "eval_time": "10m",
            "exp_samples": [
                {"labels": f'{record}{{model_version="{version}"}}', "value": value}
                for version, value in values.items()
            ],
        }
        for record, values in expected.items()
    ]
    (tmp_path / "exported.yaml").write_text(to_yaml(export_rules(load_rules([REPO / "rules"]))))
    test_file = {
        "rule_files": ["exported.yaml"],
        "evaluation_interval": f"{int(EVAL)}s",
        "tests": [{"interval": f"{int(STEP)}s", "input_series": series, "promql_expr_test": checks}],
    }
    (tmp_path / "cost.test.yaml").write_text(yaml.safe_dump(test_file, sort_keys=False, width=10**9))
    run = subprocess.run(
        ["promtool", "test", "rules", "cost.test.yaml"],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
