"""Translation of driftmon expressions into PromQL over driftmon's metrics (no promtool needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from driftmon.rules.cli import rules_app
from driftmon.rules.export import STANDING_GROUP, export_rules, standing_group, to_yaml
from driftmon.rules.model import load_rules
from driftmon.signals import GPU_SECONDS_RATE, IMAGES_RATE


def exported(tmp_path: Path, expr: str, by: str = "[model_version]", min_samples: int = 0):
    """Export a one-rule file; (records by name, alert expr or None, skipped reasons)."""
    path = tmp_path / "r.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            groups:
              - name: g
                rules:
                  - alert: A
                    expr: '{expr}'
                    by: {by}
                    min_samples: {min_samples}
            """
        )
    )
    result = export_rules(load_rules([path]))
    groups = [g for g in result.groups if g["name"] != STANDING_GROUP]
    if not groups:
        return {}, None, result.skipped
    rules = groups[0]["rules"]
    records = {r["record"]: r["expr"] for r in rules if "record" in r}
    return records, next(r["expr"] for r in rules if "alert" in r), result.skipped


def test_avg_is_a_ratio_of_rates_with_a_count_guard(tmp_path: Path) -> None:
    """avg over a histogram signal: rate(_sum)/rate(_count) by the rule's labels, guarded by increase()."""
    records, alert, _ = exported(tmp_path, "fidelity < 0.85", min_samples=20)
    assert records == {
        "model_version:driftmon_text_fidelity_ratio:avg_10m": (
            "sum by (model_version) (rate(driftmon_text_fidelity_ratio_sum[10m]))"
            " / sum by (model_version) (rate(driftmon_text_fidelity_ratio_count[10m]))"
        ),
        "model_version:driftmon_text_fidelity_ratio:count_10m": (
            "sum by (model_version) (increase(driftmon_text_fidelity_ratio_count[10m]))"
        ),
    }
    assert alert == (
        "(model_version:driftmon_text_fidelity_ratio:avg_10m and on (model_version)"
        " model_version:driftmon_text_fidelity_ratio:count_10m >= 20) < 0.85"
    )


def test_quantile_is_histogram_quantile(tmp_path: Path) -> None:
    """p95 of latency becomes histogram_quantile over the latency histogram's buckets."""
    records, alert, _ = exported(tmp_path, "p95(latency_seconds[15m]) > 2")
    assert records == {
        "model_version:driftmon_generation_latency_seconds:p95_15m": (
            "histogram_quantile(0.95, sum by (le, model_version)"
            " (rate(driftmon_generation_latency_seconds_bucket[15m])))"
        )
    }
    assert alert == "model_version:driftmon_generation_latency_seconds:p95_15m > 2.0"


def test_share_below_uses_the_bucket_bound(tmp_path: Path) -> None:
    """share_below at a bucket bound divides that bucket's rate by the count's rate."""
    records, _, _ = exported(tmp_path, "share_below(fidelity[10m], 0.85) > 0.5")
    (expr,) = records.values()
    assert 'driftmon_text_fidelity_ratio_bucket{le="0.85"}' in expr and "_count[10m]" in expr


def test_gauges_and_matchers(tmp_path: Path) -> None:
    """A GPU gauge ratio gets its own recording rule; matchers are kept in selectors and names."""
    records, alert, _ = exported(tmp_path, 'max(gpu_memory_used_ratio{gpu="0"}[5m]) > 0.9', by="[gpu]")
    assert records["driftmon:gpu_memory_used:ratio"] == (
        "driftmon_gpu_memory_used_bytes / driftmon_gpu_memory_total_bytes"
    )
    # an infrastructure signal: each pod's GPU alerts on its own (GPU 0 exists on every node)
    name = "gpu_namespace_pod_instance:driftmon_gpu_memory_used_ratio:max_5m_gpu_eq_0"
    assert records[name] == (
        'max by (gpu, namespace, pod, instance) '
        '(max_over_time(driftmon:gpu_memory_used:ratio{gpu="0"}[5m]))'
    )
    assert alert == f"{name} > 0.9"


def test_drift_reads_the_published_gauge(tmp_path: Path) -> None:
    """drift() becomes a threshold on driftmon_drift_statistic{signal, method}."""
    _, alert, _ = exported(tmp_path, 'drift(fidelity[1h], baseline, method="psi") > 0.2')
    assert alert == (
        'max by (model_version) (driftmon_drift_statistic{signal="text_fidelity", method="psi"}) > 0.2'
    )


def test_baseline_comparison_reads_the_published_gauge(tmp_path: Path) -> None:
    """ratio()/delta() become thresholds on driftmon_baseline_comparison, averaged over pods."""
    _, alert, _ = exported(tmp_path, "delta(avg(fidelity[30m]), baseline) < -0.1")
    assert alert == (
        'avg by (model_version) (driftmon_baseline_comparison{comparison="delta", aggregate="avg",'
        ' signal="text_fidelity", window="30m"}) < -0.1'
    )


def test_gauge_needs_grouped_matchers(tmp_path: Path) -> None:
    """A matcher on a label the gauge does not carry cannot be exported."""
    _, alert, skipped = exported(tmp_path, 'ratio(p95(latency_seconds{source="probe"}[15m]), baseline) > 2')
    assert alert is None and "the published gauge has no label source" in skipped[0]


@pytest.mark.parametrize(
    ("expr", "by", "reason"),
    [
        ("min(fidelity[10m]) < 0.5", "[model_version]", "min() of a histogram"),
        ("avg(word_precision[10m]) > 0.5", "[model_version]", "'word_precision' has no Prometheus metric"),
        ("avg(fidelity[10m]) < 0.5", "[probe]", "driftmon_text_fidelity_ratio has no label probe"),
        ("share_below(fidelity[10m], 0.83) > 0.5", "[model_version]", "not a bucket bound"),
    ],
)
def test_unexportable_rules_are_named_with_a_reason(tmp_path: Path, expr: str, by: str, reason: str) -> None:
    """What PromQL cannot express leaves the rule out and says why, by rule name and place."""
    _, alert, skipped = exported(tmp_path, expr, by=by)
    assert alert is None
    assert len(skipped) == 1 and skipped[0].startswith("A (") and reason in skipped[0]


def test_cli_export_writes_yaml_and_names_skipped_rules_on_stderr() -> None:
    """The CLI prints the shipped rules as a PrometheusRule on stdout, leaving none out."""
    repo_rules = Path(__file__).resolve().parents[2] / "rules"
    result = CliRunner().invoke(rules_app, ["export", str(repo_rules), "--format", "prometheusrule"])
    assert result.exit_code == 0
    doc = yaml.safe_load(result.stdout)
    assert doc["kind"] == "PrometheusRule" and doc["spec"]["groups"]
    assert "not exported" not in result.stderr  # every default rule has a PromQL form


def test_annotations_are_kept_verbatim(tmp_path: Path) -> None:
    """Templates are Go syntax in both engines, so annotations are exported as written."""
    path = tmp_path / "r.yaml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: fidelity < 1\n"
        "        annotations: {summary: '{{ $value | printf \"%.2f\" }}'}\n"
    )
    text = to_yaml(export_rules(load_rules([path])))
    alert = yaml.safe_load(text)["groups"][0]["rules"][-1]
    assert alert["annotations"] == {"summary": '{{ $value | printf "%.2f" }}'}


def test_composition_scores_use_their_histograms(tmp_path: Path) -> None:
    """Composition and alignment scores map to the histograms composition_metrics publishes."""
    records, _, _ = exported(tmp_path, "avg(legibility[10m]) < 0.8 or p50(clip_score[10m]) < 0.6")
    assert "model_version:driftmon_composition_legibility_ratio:avg_10m" in records
    assert records["model_version:driftmon_alignment_clip_score:p50_10m"] == (
        "histogram_quantile(0.5, sum by (le, model_version)"
        " (rate(driftmon_alignment_clip_score_bucket[10m])))"
    )


def test_probe_failure_selects_the_exposed_counter(tmp_path: Path) -> None:
    """probe_failure exports over driftmon_probe_requests_total, the name the daemon exposes
    (the bare driftmon_probe_requests never exists, so the alert could never fire)."""
    records, _, _ = exported(tmp_path, "avg(probe_failure[15m]) > 0.5", by="[probe]")
    (expr,) = records.values()
    assert expr == (
        "sum by (probe, namespace, pod, instance) "
        '(increase(driftmon_probe_requests_total{outcome="failed"}[15m]))'
        " / sum by (probe, namespace, pod, instance) (increase(driftmon_probe_requests_total[15m]))"
    )


def test_score_alerts_aggregate_the_fleet_and_infrastructure_alerts_keep_the_pod(tmp_path: Path) -> None:
    """A score rule groups the fleet by its own `by` only (one alert per model version, whatever
    the pods); a rule on an infrastructure signal also groups by the pod's target labels."""
    records, alert, _ = exported(tmp_path, "avg(fidelity[10m]) < 0.85", by="[model_version]")
    assert all("pod" not in expr for expr in records.values()) and "pod" not in alert
    _, alert, _ = exported(tmp_path, "max(scorer_up[5m]) < 1", by="[]")
    assert alert == "namespace_pod_instance:driftmon_scorer_up:max_5m < 1.0"


def test_every_export_ends_with_the_standing_cost_records(tmp_path: Path) -> None:
    """Images/s and GPU-seconds per second per model version are recorded whatever the rules (the
    dashboard's Cost row reads them), named level:metric:operations, from the catalogue."""
    assert standing_group() == {
        "name": "driftmon-cost",
        "rules": [
            {
                "record": "model_version:driftmon_generation_latency_seconds_count:rate5m",
                "expr": "sum by (model_version) (rate(driftmon_generation_latency_seconds_count[5m]))",
            },
            {
                "record": "model_version:driftmon_generation_latency_seconds_sum:rate5m",
                "expr": "sum by (model_version) (rate(driftmon_generation_latency_seconds_sum[5m]))",
            },
        ],
    }
    assert [IMAGES_RATE.name, GPU_SECONDS_RATE.name] == [r["record"] for r in standing_group()["rules"]]
    _, alert, skipped = exported(tmp_path, "min(fidelity[10m]) < 0.5")
    assert alert is None and skipped  # nothing of the rule file exports: the standing group still does
    assert export_rules(load_rules([tmp_path / "r.yaml"])).groups == [standing_group()]


@pytest.mark.parametrize("fmt", ["prometheus", "prometheusrule"])
def test_cli_export_carries_the_standing_group_in_both_formats(fmt: str) -> None:
    """`driftmon rules export` writes the standing group last, as a rule file and in the CRD."""
    repo_rules = Path(__file__).resolve().parents[2] / "rules"
    result = CliRunner().invoke(rules_app, ["export", str(repo_rules), "--format", fmt])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(result.stdout)
    groups = doc["spec"]["groups"] if fmt == "prometheusrule" else doc["groups"]
    assert groups[-1] == standing_group() and len(groups) > 1
