"""One truth for every alert: the exported rules select what a live daemon exposes, and each exported
alert fires and resolves in Prometheus exactly when driftmon's own engine says it does.

The live run: the synthetic generator; a daemon (tests/integration/live_daemon_main.py: the fake
scorer plus composition and token scores, NVML from the recorded H200) fed through all three
paths — pushes, the tap proxying the generator, canary probes — across a model swap v1 → v2. Its
/metrics is scraped and:

1. every exported expression (alerts and recording rules) is parsed with `promql-parser`; each
   selector must name a series the daemon exposes (counters with `_total`, histograms' `_bucket`,
   `_sum`, `_count`) or a recording rule of the export;
2. one scripted timeline of driftmon readings (every signal a shipped rule reads: a bad phase, then
   a good one) is written as Prometheus series with the names and label sets recorded from that
   scrape, `promtool test rules` runs the exported rules on it, and driftmon's engine runs the
   shipped rules on the readings themselves: at a time before, during and after each alert's
   firing span (the engine's), both engines have the same firing alerts, labels included. Every
   exported alert must have a firing span.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from driftmon.rules.evaluate import BASELINE_GAUGE
from driftmon.rules.export import export_rules, to_yaml
from driftmon.rules.model import load_rules
from driftmon.rules.ruletest import Point, simulate
from driftmon.signals import BY_NAME, Signal
from tests.imaging import png_bytes
from tests.integration.servers import free_port, http_ok, running, start, start_generator, wait_until

promql_parser = pytest.importorskip("promql_parser")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian prometheus)"),
]

ROOT = Path(__file__).resolve().parents[2]
IMAGE = base64.b64encode(png_bytes(np.full((48, 48, 3), 230, np.uint8))).decode()
PROBES = {
    "probes": [
        {"name": "open-sign", "prompt": 'a door sign "OPEN"', "seed": 1, "size": "64x64"},
        {"name": "cafe", "prompt": 'a cafe sign "COFFEE"', "seed": 2, "size": "64x64"},
    ]
}
# ------------------------------------------------------------------------------- the live run


def live_config(tmp: Path, generator: str, tap_port: int) -> dict[str, Any]:
    return {
        "server": {"host": "127.0.0.1", "shutdown_grace": 5},
        "store": {"path": str(tmp / "data" / "driftmon.db")},
        "artifacts": {"enabled": False},
        "sources": {
            "push": {"enabled": True},
            "probe": {
                "enabled": True,
                "interval": "2s",
                "prompts": str(tmp / "probes.yaml"),
                "generator": {
                    "kind": "openai_images",
                    "url": generator,
                    "model_version_path": "model_version",
                },
            },
            "tap": {
                "enabled": True,
                "listen": f"127.0.0.1:{tap_port}",
                "upstream": generator,
                "sample_ratio": 1.0,
            },
        },
        "rules": {"paths": [str(ROOT / "rules")], "evaluation_interval": "1s", "baseline_min_samples": 3},
        "alerting": {"mode": "prometheus"},
        "logging": {"format": "json"},
    }


def push(daemon: str, version: str, count: int) -> None:
    with httpx.Client(timeout=10) as client:
        for k in range(count):
            meta = {
                "prompt": 'a sign that says "OPEN"',
                "expected_text": "OPEN" if k % 2 else "CUT OPEN",
                "model_version": version,
                "latency_seconds": 0.5,
                "steps": 20,
                "request_id": uuid.uuid4().hex,
            }
            answer = client.post(f"{daemon}/v1/samples", json={"image_b64": IMAGE, **meta})
            assert answer.status_code == 202, answer.text


def through_tap(tap: str, count: int) -> None:
    body = {"prompt": 'a shop sign "OPEN"', "size": "64x64", "response_format": "b64_json"}
    with httpx.Client(timeout=30) as client:
        for _ in range(count):
            client.post(f"{tap}/v1/images/generations", json=body).raise_for_status()


def exposed(text: str) -> dict[str, list[dict[str, str]]]:
    """Every sample name the exposition has → the label sets it has under that name."""
    series: dict[str, list[dict[str, str]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[sample.name].append(dict(sample.labels))
    return dict(series)


def has(series: Mapping[str, list[dict[str, str]]], name: str, **labels: str) -> bool:
    return any(labels.items() <= found.items() for found in series.get(name, []))


@pytest.fixture(scope="module")
def scrape(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, str]]]:
    """The series of a daemon that saw pushes, tap traffic and probes across a model swap."""
    tmp = tmp_path_factory.mktemp("live")
    (tmp / "probes.yaml").write_text(yaml.safe_dump(PROBES))
    generator = start_generator(tmp, free_port(), latency_scale=0.0)
    port, tap_port = free_port(), free_port()
    config = tmp / "driftmon.yaml"
    config.write_text(yaml.safe_dump(live_config(tmp, generator.url, tap_port)))
    daemon = start(
        [sys.executable, "-m", "tests.integration.live_daemon_main", str(config), str(port)],
        tmp / "daemon.log",
        f"http://127.0.0.1:{port}",
        env={"PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    with running(generator, daemon):
        wait_until(http_ok(f"{daemon.url}/readyz"), 120, what="driftmon ready")
        push(daemon.url, "v1", 24)  # ModelSwapRegression compares at least 20 of each version
        time.sleep(2.0)  # v1 is scored before v2 arrives: it becomes v2's baseline
        httpx.post(f"{generator.url}/admin/model", json={"version": "v2"}, timeout=10).raise_for_status()
        push(daemon.url, "v2", 24)
        time.sleep(2.0)
        # last: the tap's samples have no model version ("unknown"), which must not come between
        through_tap(f"http://127.0.0.1:{tap_port}", 3)

        wanted = {
            "tap scored": ("driftmon_samples_total", {"source": "tap", "outcome": "scored"}),
            "v2 scored": ("driftmon_samples_total", {"model_version": "v2", "outcome": "scored"}),
            "a probe": ("driftmon_probe_requests_total", {"outcome": "ok"}),
            "a baseline": (BASELINE_GAUGE, {}),
            "the scorer": ("driftmon_scorer_up", {}),
        }
        missing: list[str] = []

        def complete() -> bool:
            series = exposed(httpx.get(f"{daemon.url}/metrics", timeout=10).text)
            missing[:] = [what for what, (name, labels) in wanted.items() if not has(series, name, **labels)]
            return not missing

        try:
            wait_until(complete, 120, interval=1.0, what="every path scored, probes counted, a baseline")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; missing: {missing}") from None
        return exposed(httpx.get(f"{daemon.url}/metrics", timeout=10).text)


def shipped_export() -> tuple[list[dict[str, Any]], list[str]]:
    result = export_rules(load_rules([ROOT / "rules"]))
    return result.groups, result.skipped


# ----------------------------------------------------------------- 1. selectors name real series


def selected_names(expr: str) -> set[str]:
    """The metric names the PromQL expression selects."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.MatrixSelector):
            node = node.vector_selector
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def test_every_alert_exports_or_says_why_not() -> None:
    groups, skipped = shipped_export()
    exported = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    reasons = {line.split(" ", 1)[0]: line for line in skipped}
    names = {rule.name for rule in load_rules([ROOT / "rules"]).rules}
    assert exported | set(reasons) == names and not exported & set(reasons)
    assert all(": " in line for line in skipped), skipped


def test_every_exported_selector_names_a_series_the_daemon_exposes(scrape) -> None:
    groups, _ = shipped_export()
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    unknown = {
        f"{rule.get('alert') or rule.get('record')}: {name}"
        for group in groups
        for rule in group["rules"]
        for name in selected_names(rule["expr"])
        if name not in scrape and name not in recorded
    }
    assert not unknown, f"selectors naming no exposed series: {sorted(unknown)}"


# ---------------------------------------------------- 2. promtool and the engine, every alert

STEP = 15.0  # seconds between readings and between scrapes
EVAL = 30.0  # the shipped groups' interval
BAD = (40 * 60.0, 100 * 60.0)  # the bad phase of every signal
END = 170 * 60.0
MARGIN = 5 * 60.0  # checkpoints keep this far from the engine's transitions


def _labels(scrape: Mapping[str, list[dict[str, str]]], name: str, **wanted: str) -> dict[str, str]:
    """A label set the daemon exposed `name` with (matching `wanted`), the counted outcome and
    histogram bound left out."""
    for labels in scrape.get(name, []):
        if wanted.items() <= labels.items():
            return {k: v for k, v in labels.items() if k not in ("le", "outcome")}
    raise AssertionError(f"the live daemon exposed no {name}{wanted}")


def timeline(scrape: Mapping[str, list[dict[str, str]]]) -> list[Point]:
    """Readings of every signal a shipped rule reads: normal, bad during BAD, normal again. Labels
    are those the live daemon exposed on the signal's series."""

    def series(
        signal: str, labels: Mapping[str, str], good: float, bad: float | None, start: float = STEP
    ) -> list[Point]:
        times = np.arange(start, END + STEP / 2, STEP)
        return [
            Point(float(t), signal, dict(labels), bad if bad is not None and BAD[0] <= t < BAD[1] else good)
            for t in times
        ]

    v1 = _labels(scrape, "driftmon_text_fidelity_ratio_count", model_version="v1", source="push")
    v2 = {**v1, "model_version": "v2"}
    swap = 30 * 60.0  # v2 first serves at 30m (v1 is its baseline), well until BAD begins
    probe = _labels(scrape, "driftmon_probe_requests_total")
    gpu = _labels(scrape, "driftmon_gpu_memory_used_bytes", gpu="0")
    points = [
        *series("text_fidelity", v1, 0.95, None),
        *series("text_fidelity", v2, 0.95, 0.6, swap),
        *series("hallucination", v1, 0.02, None),
        *series("hallucination", v2, 0.02, 0.5, swap),
        *series("latency_seconds", v1, 1.0, None),
        *series("latency_seconds", v2, 1.0, 100.0, swap),
        *series("prompt_truncated", v2, 0.0, 1.0, swap),
        *series("probe_failure", {"source": "probe", **probe}, 0.0, 1.0),
        *series("shed", v1, 0.0, 1.0),
        *series("queue_fill_ratio", {}, 0.1, None),
        *series("gpu_memory_used_ratio", gpu, 0.5, 0.99),
        *series("scorer_up", {}, 1.0, 0.0),
    ]
    return sorted(points, key=lambda p: p.ts)


def _counter_outcomes(signal: Signal, scrape: Mapping[str, list[dict[str, str]]]) -> tuple[str, str]:
    """(the counted outcome, another outcome the daemon exposes on the same counter)."""
    assert signal.metric is not None and signal.export is not None and signal.export.outcome
    others = {labels.get("outcome") for labels in scrape.get(signal.metric.name, [])} - {
        signal.export.outcome,
        None,
    }
    assert others, f"{signal.metric.name}: no other outcome exposed"
    return signal.export.outcome, sorted(o for o in others if o)[0]


def _series_line(name: str, labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}" if inner else name


def _scrapes() -> list[float]:
    return [k * STEP for k in range(int(END // STEP) + 1)]


def prometheus_series(
    points: list[Point], scrape: Mapping[str, list[dict[str, str]]]
) -> dict[str, list[float | None]]:
    """The readings as the daemon would expose them, scraped every STEP: cumulative histograms and
    counters, gauges (recording rules' operands for ratios computed by Prometheus)."""
    out: dict[str, list[float | None]] = {}
    by_series: dict[tuple[str, tuple[tuple[str, str], ...]], list[Point]] = defaultdict(list)
    for point in points:
        by_series[(point.signal, tuple(sorted(point.labels.items())))].append(point)
    for (name, label_items), mine in by_series.items():
        signal, labels = BY_NAME[name], dict(label_items)
        for line, values in _exposed_as(signal, labels, mine, scrape).items():
            out[line] = values
    return out


def _cumulative(points: list[Point], weight: Any) -> list[float | None]:
    return [float(sum(weight(p) for p in points if p.ts <= at)) for at in _scrapes()]


def _latest(points: list[Point], value: Any) -> list[float | None]:
    values: list[float | None] = []
    for at in _scrapes():
        before = [p for p in points if p.ts <= at]
        values.append(value(before[-1].value) if before else None)
    return values


def _exposed_as(
    signal: Signal, labels: dict[str, str], points: list[Point], scrape: Mapping[str, list[dict[str, str]]]
) -> dict[str, list[float | None]]:
    export = signal.export
    assert export is not None, f"{signal.name} does not export"
    if export.how == "histogram":
        assert signal.metric is not None
        stem, out = signal.metric.name, {}
        for bound in (*signal.metric.buckets, float("inf")):
            le = "+Inf" if bound == float("inf") else repr(float(bound))
            line = _series_line(f"{stem}_bucket", {**labels, "le": le})
            out[line] = _cumulative(points, lambda p, b=bound: p.value <= b)
        out[_series_line(f"{stem}_sum", labels)] = _cumulative(points, lambda p: p.value)
        out[_series_line(f"{stem}_count", labels)] = _cumulative(points, lambda p: 1)
        return out
    if export.how == "counter_share":
        assert signal.metric is not None
        hit, miss = _counter_outcomes(signal, scrape)
        metric_labels = {k: v for k, v in labels.items() if k in signal.metric.labels}
        return {
            _series_line(signal.metric.name, {**metric_labels, "outcome": hit}): _cumulative(
                points, lambda p: p.value
            ),
            _series_line(signal.metric.name, {**metric_labels, "outcome": miss}): _cumulative(
                points, lambda p: 1 - p.value
            ),
        }
    if export.recording is not None:  # a ratio Prometheus computes: numerator / denominator
        numerator, denominator = (part.strip() for part in export.recording.expr.split("/"))
        scale = 1e10
        return {
            _series_line(numerator, labels): _latest(points, lambda v: v * scale),
            _series_line(denominator, labels): _latest(points, lambda v: scale),
        }
    assert signal.metric is not None
    return {_series_line(signal.metric.name, labels): _latest(points, lambda v: v)}


def gauge_series(gauges: Mapping[float, Mapping[tuple[str, Any], float]]) -> dict[str, list[float | None]]:
    """The gauges the engine published (the baseline comparison), as scraped every STEP: the value
    of the latest evaluation at or before each scrape, absent where that evaluation had none."""
    evals = sorted(gauges)
    keys = {key for values in gauges.values() for key in values}
    out = {}
    for name, label_key in keys:
        values: list[float | None] = []
        for at in _scrapes():
            last = [t for t in evals if t <= at]
            values.append(gauges[last[-1]].get((name, label_key)) if last else None)
        out[_series_line(name, dict(label_key))] = values
    return out


def _promtool_values(values: Iterable[float | None]) -> str:
    return " ".join("_" if v is None else repr(float(v)) for v in values)


def firing_spans(snapshots: Mapping[float, Mapping[str, list[Any]]], alert: str) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    for at in sorted(snapshots):
        if any(i.state == "firing" for i in snapshots[at].get(alert, [])):
            if spans and spans[-1][1] == at - EVAL:
                spans[-1] = (spans[-1][0], at)
            else:
                spans.append((at, at))
    return spans


def expected_alerts(snapshot: Mapping[str, list[Any]], alert: str) -> list[dict[str, Any]]:
    return [
        {"exp_labels": {k: v for k, v in i.labels.items() if k != "alertname"}}
        for i in snapshot.get(alert, [])
        if i.state == "firing"
    ]


def test_promtool_and_the_engine_fire_and_resolve_every_exported_alert(scrape, tmp_path: Path) -> None:
    ruleset = load_rules([ROOT / "rules"])
    groups, _ = shipped_export()
    alerts = sorted({r["alert"] for g in groups for r in g["rules"] if "alert" in r})
    points = timeline(scrape)
    times = [k * EVAL for k in range(int(END // EVAL) + 1)]
    gauges: dict[float, dict[tuple[str, Any], float]] = {}
    snapshots = simulate(ruleset, points, times, baseline_min_samples=20, gauges=gauges)
    series = {**prometheus_series(points, scrape), **gauge_series(gauges)}
    for line in series:  # every input series has a name and label names the daemon exposed
        name = line.split("{", 1)[0]
        keys = {part.split("=", 1)[0].strip() for part in line[len(name) + 1 : -1].split(",") if "=" in part}
        assert any(keys == set(found) for found in scrape.get(name, [])), f"not as exposed: {line}"
    checks, report = [], []
    for alert in alerts:
        spans = firing_spans(snapshots, alert)
        assert len(spans) == 1, f"{alert}: the engine's firing spans are {spans}, not one"
        ((begin, end),) = spans
        assert end - begin >= 2 * MARGIN, f"{alert} fires only from {begin}s to {end}s"
        at = {"before": begin - MARGIN, "firing": (begin + end) / 2, "resolved": end + MARGIN}
        at = {k: round(v / EVAL) * EVAL for k, v in at.items()}
        assert at["resolved"] <= END, f"{alert} resolves too late ({end}s)"
        for phase, when in at.items():
            expected = expected_alerts(snapshots[when], alert)
            assert bool(expected) == (phase == "firing"), f"{alert} at {when}s ({phase}): {expected}"
            checks.append({"eval_time": f"{int(when)}s", "alertname": alert, "exp_alerts": expected})
        report.append(f"{alert}: fires {int(begin)}s..{int(end)}s")
    print("\n".join(report))
    # the verdict (which alerts fire, with which labels) is compared; annotations quote $value,
    # which a histogram's interpolated quantile and the engine's exact one word differently
    # (test_rules_export.py compares TextFidelityLow's annotations exactly)
    exported = export_rules(ruleset)
    for group in exported.groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "exported.yaml").write_text(to_yaml(exported))
    test_file = {
        "rule_files": ["exported.yaml"],
        "evaluation_interval": f"{int(EVAL)}s",
        "tests": [
            {
                "interval": f"{int(STEP)}s",
                "input_series": [
                    {"series": line, "values": _promtool_values(values)} for line, values in series.items()
                ],
                "alert_rule_test": checks,
            }
        ],
    }
    (tmp_path / "live.test.yaml").write_text(yaml.safe_dump(test_file, sort_keys=False, width=10**9))
    run = subprocess.run(
        ["promtool", "test", "rules", "live.test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
