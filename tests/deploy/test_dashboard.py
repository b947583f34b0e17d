"""The Grafana dashboard: variables, queries and metric names, checked without a Grafana."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from driftmon.metrics import Metrics

from .dashboard import (
    BUILTINS,
    ROOT,
    family,
    load,
    metric_names,
    panels,
    queries,
    substitute,
    variables_used,
)

ALL = {"namespace": ".*", "pod": ".*", "model_version": ".*", "source": ".*"}


def declared_metric_families() -> set[str]:
    """Every metric family driftmon declares: its main registry, plus each name literal in the
    package's source (collectors that build families at scrape time, per-component registries)."""
    registry = CollectorRegistry()
    Metrics(registry)
    names = {metric.name for metric in registry.collect()}
    for path in (ROOT / "driftmon").rglob("*.py"):
        names |= set(re.findall(r"[\"'](driftmon_[a-z0-9_]+)[\"']", path.read_text("utf-8")))
    return names


def test_dashboard_has_the_variables_sres_filter_by():
    """A Prometheus datasource variable and namespace, pod, model_version, source variables."""
    templating = {v["name"]: v for v in load()["templating"]["list"]}
    assert templating["datasource"]["type"] == "datasource"
    assert templating["datasource"]["query"] == "prometheus"
    for name in ("namespace", "pod", "model_version", "source"):
        assert templating[name]["type"] == "query"
        assert templating[name]["includeAll"] and templating[name]["allValue"] == ".*"


def test_every_query_uses_only_declared_variables_and_the_datasource_variable():
    """Each target reads from ${datasource} and uses no undeclared variable."""
    dashboard = load()
    declared = {v["name"] for v in dashboard["templating"]["list"]} | BUILTINS
    for item in panels(dashboard):
        assert item["datasource"]["uid"] == "${datasource}", item["title"]
        for target in item["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", item["title"]
            unknown = variables_used(target["expr"]) - declared
            assert not unknown, f"{item['title']}: {unknown}"


def test_panels_cover_the_issue_list():
    """Fidelity, share below 0.85, latency p50/p95, outcomes, alerts, GPU memory (driftmon vs
    generator) and utilisation, scoring duration, queue depth, probe failures, composition."""
    exprs = "\n".join(q.expr for q in queries(load()))
    for needle in (
        "driftmon_text_fidelity_ratio_sum",
        'le="0.85"',
        "histogram_quantile(0.5, sum by (le, model_version) (rate(driftmon_generation_latency",
        "histogram_quantile(0.95, sum by (le, model_version) (rate(driftmon_generation_latency",
        "sum by (outcome) (rate(driftmon_samples_total",
        "driftmon_alerts",
        "sum by (gpu, process) (driftmon_gpu_process_memory_used_bytes",
        "driftmon_gpu_utilization_ratio",
        "driftmon_scoring_duration_seconds_bucket",
        "driftmon_queue_depth",
        "driftmon_probe_failures_total",
        "driftmon_composition_legibility_ratio",
    ):
        assert needle in exprs, needle


def test_every_metric_in_the_dashboard_is_one_driftmon_declares():
    """No panel reads a misspelled or retired metric name."""
    declared = declared_metric_families()
    for query in queries(load()):
        for name in metric_names(query.expr):
            assert family(name, declared), f"{query.panel} ({query.ref}): {name} is not declared"
    for variable in load()["templating"]["list"]:
        for name in metric_names(variable.get("definition", "")):
            assert family(name, declared), f"variable {variable['name']}: {name} is not declared"


def test_substitution_follows_grafana_for_all_single_and_multi_values():
    """All becomes `.*`, one value stays itself, several are regex-escaped and alternated."""
    expr = 'rate(x{pod=~"$pod", model_version=~"${model_version}"}[$__rate_interval])'
    assert substitute(expr, ALL, "1m") == 'rate(x{pod=~".*", model_version=~".*"}[1m])'
    assert (
        substitute(expr, {"pod": ["gen-0"], "model_version": ["sdxl-1.0", "sd3"]}, "2m")
        == 'rate(x{pod=~"gen-0", model_version=~"(sdxl-1\\\\.0|sd3)"}[2m])'
    )
    with pytest.raises(KeyError):
        substitute(expr, {"pod": ".*"}, "1m")


def test_dashboard_json_is_what_the_generator_builds():
    """The checked-in JSON is helm/dashboard.py's output (regenerate with helm/sync.py)."""
    sys.path.insert(0, str(ROOT / "helm"))
    try:
        import dashboard as generator
    finally:
        sys.path.remove(str(ROOT / "helm"))
    assert generator.build() == load()


@pytest.mark.integration
def test_every_query_is_valid_promql(tmp_path: Path):
    """promtool parses every panel query (variables substituted) as a recording rule expression."""
    rules = [
        {"record": f"dashboard:panel_{index}", "expr": substitute(q.expr, ALL, "5m")}
        for index, q in enumerate(queries(load()))
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), "utf-8")
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
