"""driftmon's Grafana dashboard as code: `python helm/dashboard.py` prints its JSON.

helm/sync.py writes it to helm/driftmon/dashboards/driftmon.json (the chart ships it in a
ConfigMap for Grafana's dashboard sidecar). Plain dicts in Grafana's dashboard JSON model
(schemaVersion 39), so it needs nothing beyond the standard library and driftmon's signal
catalogue (pure), whose standing recording rules the Cost row reads.

Every query selects by the dashboard's variables: $namespace and $pod (labels the Prometheus
Operator or kubernetes_sd relabelling adds; the "All" value `.*` also matches series without them),
$model_version and $source on the per-sample families. The recorded Cost series are the fleet's,
per model version: only $model_version applies to them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# the repository first: helm/driftmon (the chart) must not shadow the driftmon package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from driftmon.signals import GPU_SECONDS_RATE, IMAGES_RATE

UID = "driftmon-overview"
TITLE = "driftmon: image generation drift"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"

POD = 'namespace=~"$namespace", pod=~"$pod"'
SAMPLE = f'{POD}, model_version=~"$model_version", source=~"$source"'

#: composition ratios the daemon exports as histograms (driftmon/scoring/composition_metrics.py)
COMPOSITION_RATIOS = (
    ("legibility", "driftmon_composition_legibility_ratio"),
    ("safe area", "driftmon_composition_safe_area_ratio"),
    ("object count match", "driftmon_composition_object_count_match_ratio"),
)
#: composition counters: images flagged, per scored image
COMPOSITION_FLAGS = (
    ("margin violations", "driftmon_composition_margin_violations_total"),
    ("blank images", "driftmon_composition_blank_images_total"),
    ("size mismatches", "driftmon_composition_size_mismatches_total"),
)


def mean(metric: str, selector: str, by: str) -> str:
    """Mean of a histogram over the rate window: rate of _sum over rate of _count, by `by`."""
    return (
        f"sum by ({by}) (rate({metric}_sum{{{selector}}}[{RATE}]))\n"
        f"/\nsum by ({by}) (rate({metric}_count{{{selector}}}[{RATE}]))"
    )


def quantile(q: float, metric: str, selector: str, by: str) -> str:
    """histogram_quantile over the rate of a histogram's buckets, by `by`."""
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[{RATE}])))"


def target(expr: str, legend: str, ref: str = "A") -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def panel(
    title: str,
    targets: list[dict[str, Any]],
    grid: tuple[int, int, int, int],
    *,
    unit: str = "short",
    kind: str = "timeseries",
    description: str = "",
    minmax: tuple[float | None, float | None] = (None, None),
    thresholds: list[tuple[float | None, str]] | None = None,
) -> dict[str, Any]:
    x, y, w, h = grid
    defaults: dict[str, Any] = {"unit": unit}
    if minmax[0] is not None:
        defaults["min"] = minmax[0]
    if minmax[1] is not None:
        defaults["max"] = minmax[1]
    if thresholds:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in thresholds],
        }
    for ref, item in zip("ABCDEFGH", targets, strict=False):
        item["refId"] = ref
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": targets,
    }


def row(title: str, y: int) -> dict[str, Any]:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
        "panels": [],
    }


def query_variable(name: str, label: str, query: str, *, multi: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-values"},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }


def variables() -> list[dict[str, Any]]:
    return [
        {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "refresh": 1,
            "current": {},
        },
        query_variable("namespace", "Namespace", "label_values(driftmon_build_info, namespace)"),
        query_variable("pod", "Pod", 'label_values(driftmon_build_info{namespace=~"$namespace"}, pod)'),
        query_variable(
            "model_version",
            "Model version",
            f"label_values(driftmon_samples_total{{{POD}}}, model_version)",
        ),
        query_variable("source", "Source", f"label_values(driftmon_samples_total{{{POD}}}, source)"),
    ]


def quality_panels(y: int) -> list[dict[str, Any]]:
    fidelity = "driftmon_text_fidelity_ratio"
    below = (
        f'sum by (model_version) (rate({fidelity}_bucket{{{SAMPLE}, le="0.85"}}[{RATE}]))\n'
        f"/\nsum by (model_version) (rate({fidelity}_count{{{SAMPLE}}}[{RATE}]))"
    )
    return [
        row("Output quality", y),
        panel(
            "Text fidelity by model version (mean)",
            [target(mean(fidelity, SAMPLE, "model_version"), "{{model_version}}")],
            (0, y + 1, 12, 8),
            unit="percentunit",
            minmax=(0, 1),
            description="1 - normalised edit distance between the prompt's expected text and OCR.",
        ),
        panel(
            "Share of samples with text fidelity below 0.85",
            [target(below, "{{model_version}}")],
            (12, y + 1, 12, 8),
            unit="percentunit",
            minmax=(0, 1),
            thresholds=[(None, "green"), (0.1, "orange"), (0.25, "red")],
        ),
        panel(
            "Composition scores (mean)",
            [
                target(mean(metric, SAMPLE, "model_version"), f"{label} {{{{model_version}}}}")
                for label, metric in COMPOSITION_RATIOS
            ],
            (0, y + 9, 12, 8),
            unit="percentunit",
            minmax=(0, 1),
            description="Legibility of the expected words, boxes inside the safe area, objects found "
            "in the expected number (the last needs scoring.composition.detector_dir).",
        ),
        panel(
            "Samples by outcome",
            [
                target(
                    f"sum by (outcome) (rate(driftmon_samples_total{{{SAMPLE}}}[{RATE}]))",
                    "{{outcome}}",
                )
            ],
            (12, y + 9, 12, 8),
            unit="reqps",
            description="scored, unsampled, shed (queue full), rejected (bad input), failed.",
        ),
        panel(
            "Composition flags per scored image",
            [
                target(
                    f"sum by (model_version) (rate({metric}{{{SAMPLE}}}[{RATE}]))\n/\n"
                    f"sum by (model_version) (rate(driftmon_samples_total{{{SAMPLE}, "
                    f'outcome="scored"}}[{RATE}]))',
                    f"{label} {{{{model_version}}}}",
                )
                for label, metric in COMPOSITION_FLAGS
            ],
            (0, y + 17, 12, 8),
            unit="percentunit",
            minmax=(0, 1),
        ),
        panel(
            "Word F1 and hallucination (mean)",
            [
                target(mean("driftmon_word_f1_ratio", SAMPLE, "model_version"), "word F1 {{model_version}}"),
                target(
                    mean("driftmon_hallucination_ratio", SAMPLE, "model_version"),
                    "hallucination {{model_version}}",
                ),
            ],
            (12, y + 17, 12, 8),
            unit="percentunit",
            minmax=(0, 1),
            description="Word-level F1 of OCR against the expected text; share of OCR words not expected.",
        ),
        panel(
            "Prompt alignment (CLIP score, mean)",
            [target(mean("driftmon_alignment_clip_score", SAMPLE, "model_version"), "{{model_version}}")],
            (0, y + 25, 12, 8),
            description="CLIPScore between prompt and image (0..2.5); needs scoring.composition.clip_dir.",
        ),
        panel(
            "Embedding drift against the baseline",
            [
                target(
                    "max by (model_version, method) "
                    f'(driftmon_embedding_drift_statistic{{{POD}, model_version=~"$model_version"}})',
                    "{{method}} {{model_version}}",
                ),
                target(
                    f"max by (method) (driftmon_embedding_drift_threshold{{{POD}}})",
                    "threshold {{method}}",
                ),
            ],
            (12, y + 25, 12, 8),
            description="Mean-embedding distance and classifier ROC AUC of recent CLIP image embeddings.",
        ),
    ]


def latency_panels(y: int) -> list[dict[str, Any]]:
    latency = "driftmon_generation_latency_seconds"
    return [
        row("Latency and throughput", y),
        panel(
            "Generation latency p50 / p95",
            [
                target(quantile(0.5, latency, SAMPLE, "model_version"), "p50 {{model_version}}"),
                target(quantile(0.95, latency, SAMPLE, "model_version"), "p95 {{model_version}}"),
            ],
            (0, y + 1, 12, 8),
            unit="s",
        ),
        panel(
            "Scoring duration p95 by stage",
            [target(quantile(0.95, "driftmon_scoring_duration_seconds", POD, "stage"), "{{stage}}")],
            (12, y + 1, 8, 8),
            unit="s",
        ),
        panel(
            "Scoring queue depth",
            [
                target(f"max by (pod) (driftmon_queue_depth{{{POD}}})", "depth {{pod}}"),
                target(f"max by (pod) (driftmon_queue_capacity{{{POD}}})", "capacity {{pod}}"),
            ],
            (20, y + 1, 4, 8),
            unit="short",
        ),
    ]


def cost_panels(y: int) -> list[dict[str, Any]]:
    """The cost contract live (docs/contracts.md): images/s, latency × rate = GPU-seconds per
    second (an upper bound: latency includes queueing), and sampling steps, per model version.
    The first two read the export's standing recording rules (driftmon.signals)."""
    version = 'model_version=~"$model_version"'
    fleet = " Recorded over 5m by driftmon's exported rules (the PrometheusRule): all pods and sources."
    return [
        row("Cost", y),
        panel("Images per second", [target(f"{IMAGES_RATE.name}{{{version}}}", "{{model_version}}")],
              (0, y + 1, 8, 8), unit="short",
              description="Samples that report a latency, per second, by model version." + fleet),
        panel(
            "GPU-seconds per second (latency × rate)",
            [target(f"{GPU_SECONDS_RATE.name}{{{version}}}", "{{model_version}}")],
            (8, y + 1, 8, 8),
            unit="s",
            description="Sum of reported latency per second = mean latency × images/s: the GPU time "
            "a model version takes per second of traffic (an upper bound). A model swap's cost step."
            + fleet,
        ),
        panel("Sampling steps (mean)", [target(mean("driftmon_generation_steps", SAMPLE, "model_version"),
              "{{model_version}}")], (16, y + 1, 8, 8), unit="short",
              description="Steps reported by pushes, the tap and probes, by model version."),
    ]  # fmt: skip


def alert_panels(y: int) -> list[dict[str, Any]]:
    return [
        row("Alerts and probes", y),
        panel(
            "Alerts pending / firing",
            [
                target(
                    f"sum by (alertname, alertstate) (driftmon_alerts{{{POD}}})",
                    "{{alertname}} ({{alertstate}})",
                )
            ],
            (0, y + 1, 8, 8),
            description="driftmon's own rule engine (as Prometheus's ALERTS series).",
        ),
        panel(
            "Model swap: against the baseline",
            [
                target(
                    "max by (comparison, aggregate, signal, window, model_version) "
                    f'(driftmon_baseline_comparison{{{POD}, model_version=~"$model_version"}})',
                    "{{comparison}} {{aggregate}}({{signal}}[{{window}}]) {{model_version}}",
                )
            ],
            (0, y + 9, 12, 8),
            description="The rules' ratio()/delta() against the baseline (the previous model version, "
            "or a pinned one): e.g. delta of mean fidelity, ratio of p95 latency.",
        ),
        panel(
            "Drift statistics",
            [
                target(
                    f"max by (signal, method, model_version) (driftmon_drift_statistic{{{POD}}})",
                    "{{signal}} {{method}} {{model_version}}",
                )
            ],
            (12, y + 9, 12, 8),
            description="The latest statistic of each rule's drift() test, e.g. a KS p-value.",
        ),
        panel(
            "Probe failures",
            [
                target(
                    f"sum by (reason) (rate(driftmon_probe_failures_total{{{POD}}}[{RATE}]))",
                    "failed: {{reason}}",
                ),
                target(
                    f"sum by (outcome) (rate(driftmon_probe_requests_total{{{POD}}}[{RATE}]))",
                    "requests: {{outcome}}",
                ),
            ],
            (8, y + 1, 8, 8),
            unit="reqps",
        ),
        panel(
            "Notifications by receiver and outcome",
            [
                target(
                    f"sum by (receiver, outcome) (rate(driftmon_notifications_total{{{POD}}}[{RATE}]))",
                    "{{receiver}} {{outcome}}",
                ),
                target(
                    f"sum (rate(driftmon_rule_evaluation_failures_total{{{POD}}}[{RATE}]))",
                    "rule evaluation failures",
                ),
            ],
            (16, y + 1, 8, 8),
            unit="reqps",
        ),
    ]


def gpu_panels(y: int) -> list[dict[str, Any]]:
    return [
        row("GPU (NVML)", y),
        panel(
            "GPU memory used: driftmon vs generator",
            [
                target(
                    f"sum by (gpu, process) (driftmon_gpu_process_memory_used_bytes{{{POD}}})",
                    "gpu {{gpu}} {{process}}",
                ),
                target(
                    f"sum by (gpu) (driftmon_gpu_memory_used_bytes{{{POD}}})",
                    "gpu {{gpu}} total used",
                ),
            ],
            (0, y + 1, 12, 8),
            unit="bytes",
            description="Per process needs the generator's processes visible to NVML "
            "(see docs/deploy.md: NVIDIA_VISIBLE_DEVICES, hostPID).",
        ),
        panel(
            "GPU utilisation",
            [
                target(
                    f"max by (gpu, modelName) (driftmon_gpu_utilization_ratio{{{POD}}})",
                    "gpu {{gpu}} {{modelName}}",
                )
            ],
            (12, y + 1, 6, 8),
            unit="percentunit",
            minmax=(0, 1),
        ),
        panel(
            "NVML readable",
            [target(f"min by (pod) (driftmon_nvml_up{{{POD}}})", "{{pod}}")],
            (18, y + 1, 6, 8),
            kind="stat",
            thresholds=[(None, "red"), (1, "green")],
            description="0 where driftmon cannot read NVML (no GPU visible, or no driver).",
        ),
        panel(
            "GPU temperature",
            [
                target(
                    f"max by (gpu, modelName) (driftmon_gpu_temperature_celsius{{{POD}}})",
                    "gpu {{gpu}} {{modelName}}",
                )
            ],
            (0, y + 9, 12, 8),
            unit="celsius",
        ),
        panel(
            "GPU power",
            [
                target(
                    f"max by (gpu, modelName) (driftmon_gpu_power_watts{{{POD}}})",
                    "gpu {{gpu}} {{modelName}}",
                )
            ],
            (12, y + 9, 12, 8),
            unit="watt",
        ),
    ]


def build() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model."""
    panels = quality_panels(0) + latency_panels(34) + cost_panels(43) + alert_panels(52) + gpu_panels(69)
    for number, item in enumerate(panels, start=1):
        item["id"] = number
    return {
        "uid": UID,
        "title": TITLE,
        "description": "Text fidelity, composition, latency, alerts and GPU of driftmon sidecars.",
        "tags": ["driftmon", "image-generation", "gpu"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "version": 1,
        "templating": {"list": variables()},
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [],
        "panels": panels,
    }


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=2)
    sys.stdout.write("\n")
