"""`driftmon rules export`: the same rules as Prometheus recording + alerting rules.

Each window aggregation becomes a recording rule over driftmon's metrics, named
``<by labels>:<metric>:<op><window>`` (Prometheus's level:metric:operations convention):

    avg(fidelity[10m])      sum by (L) (rate(driftmon_text_fidelity_ratio_sum[10m]))
                            / sum by (L) (rate(driftmon_text_fidelity_ratio_count[10m]))
    count / rate / sum      sum by (L) (increase|rate(..._count[w])), increase(..._sum[w])
    p95(latency[15m])       histogram_quantile(0.95, sum by (le, L) (rate(..._bucket[15m])))
    share_below(s[w], x)    increase(..._bucket{le="x"}) / increase(..._count), x a bucket bound
    gauges (GPU, queue)     avg|min|max by (L) (avg|min|max_over_time(...[w]))
    min_samples N           (<value> and on (L) <count record> >= N)
    drift(s[w], baseline)   max by (L) (driftmon_drift_statistic{signal=..., method=...})
    ratio|delta(agg, baseline)
                            avg by (L) (driftmon_baseline_comparison{comparison, aggregate,
                            signal, window}) — gauges the daemon's own engine publishes, since
                            only the daemon knows each version's baseline

Every export ends with the group `driftmon-cost`: the catalogue's standing recording rules
(driftmon.signals.STANDING_RECORDINGS: images/s and GPU-seconds per second per model version),
written whatever the rules, since the dashboard's Cost row reads them.

What PromQL cannot express (min/max of a histogram, a signal without a metric, a `by` label the
metric lacks) is reported by rule name in `ExportResult.skipped` and printed on stderr by the CLI;
the rule is left out whole, never exported half.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from driftmon.durations import format_duration
from driftmon.errors import Unexportable
from driftmon.rules.compile import QUANTILES, Agg, BaselineAgg, BinOp, Compiled, Drift, Negate, Scalar
from driftmon.rules.evaluate import BASELINE_GAUGE, DRIFT_GAUGE
from driftmon.rules.model import Rule, RuleSet
from driftmon.signals import EXPORTED, POD_LABELS, STANDING_RECORDINGS, Signal


@dataclass(frozen=True, slots=True)
class Histogram:
    """A signal exported as a Prometheus histogram."""

    metric: str
    labels: frozenset[str]
    buckets: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class GaugeSignal:
    """A signal exported as a gauge (or a recording rule computing one)."""

    metric: str
    labels: frozenset[str]
    recording: str | None = None  # expression of the recording rule named `metric`, if any


@dataclass(frozen=True, slots=True)
class CounterRatio:
    """A 0/1 event signal exported as a counter with an outcome label: share of `outcome`."""

    metric: str
    labels: frozenset[str]
    outcome: str


def exported_as(signal: Signal) -> Histogram | GaugeSignal | CounterRatio:
    """How rules on `signal` (a catalogue entry with an export) select its series."""
    export, series = signal.export, signal.export_series
    assert export is not None and series is not None, f"{signal.name} does not export"
    labels = signal.export_labels
    if export.how == "histogram":
        return Histogram(series, labels, () if signal.metric is None else signal.metric.buckets)
    if export.how == "gauge":
        return GaugeSignal(series, labels, None if export.recording is None else export.recording.expr)
    assert export.outcome is not None, f"{signal.name}: a counter share needs its outcome"
    return CounterRatio(series, labels, export.outcome)


#: driftmon signals → the series exported rules select (driftmon.signals)
SIGNALS: dict[str, Histogram | GaugeSignal | CounterRatio] = {
    name: exported_as(signal) for name, signal in EXPORTED.items()
}


def _number(value: float) -> str:
    """A float as PromQL and prometheus_client's ``le`` labels write it (``1.0``, ``0.85``)."""
    return repr(float(value))


@dataclass
class _Group:
    name: str
    interval: float
    records: dict[str, str] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ExportResult:
    """Prometheus rule groups, and each left-out rule as ``Name (file:line): reason``."""

    groups: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def export_rules(ruleset: RuleSet, links: Mapping[str, str | None] | None = None) -> ExportResult:
    """Translate every rule, then add the standing group; rules that cannot be expressed are listed
    in `skipped`. `links`: values for the annotations' ``${DRIFTMON_URL}`` and ``${DASHBOARD_URL}``
    (None: kept)."""
    result = ExportResult()
    for group in ruleset.groups:
        out = _Group(group.name, group.interval)
        for rule in group.rules:
            records: dict[str, str] = {}
            try:
                expr = _Translator(records, pod_labels(rule.expr)).node(rule.expr)
            except Unexportable as exc:
                result.skipped.append(f"{rule.name} ({rule.path}:{rule.line}): {exc}")
                continue
            out.records.update(records)
            out.alerts.append(_alert(rule, expr, links or {}))
        if out.alerts:
            result.groups.append(_group_dict(out))
    result.groups.append(standing_group())
    return result


#: the group of the standing recording rules, last in every export
STANDING_GROUP = "driftmon-cost"


def standing_group() -> dict[str, Any]:
    """The catalogue's standing recording rules (no interval: Prometheus's global one)."""
    return {
        "name": STANDING_GROUP,
        "rules": [{"record": record.name, "expr": record.expr} for record in STANDING_RECORDINGS],
    }


def _group_dict(group: _Group) -> dict[str, Any]:
    records = [{"record": name, "expr": expr} for name, expr in group.records.items()]
    return {"name": group.name, "interval": format_duration(group.interval), "rules": records + group.alerts}


def _link(text: str, links: Mapping[str, str | None]) -> str:
    for name, value in links.items():
        if value is not None:
            text = text.replace("${" + name + "}", value.rstrip("/"))
    return text


def _alert(rule: Rule, expr: str, links: Mapping[str, str | None]) -> dict[str, Any]:
    alert: dict[str, Any] = {"alert": rule.name, "expr": expr}
    if rule.for_:
        alert["for"] = format_duration(rule.for_)
    if rule.keep_firing_for:
        alert["keep_firing_for"] = format_duration(rule.keep_firing_for)
    if rule.labels:
        alert["labels"] = dict(rule.labels)
    if rule.annotations:
        alert["annotations"] = {
            name: _link(template.source, links) for name, template in rule.annotations.items()
        }
    return alert


def _sum(labels: tuple[str, ...], inner: str, op: str = "sum") -> str:
    """``sum by (a, b) (inner)``, or ``sum(inner)`` without labels."""
    return f"{op} by ({', '.join(labels)}) ({inner})" if labels else f"{op}({inner})"


def _on(labels: tuple[str, ...] | None) -> str:
    return f"on ({', '.join(labels or ())})"


def _selector(metric: str, matchers: tuple[tuple[str, str, str], ...], extra: str = "") -> str:
    parts = [f'{label}{op}"{value}"' for label, op, value in matchers]
    if extra:
        parts.append(extra)
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric


def _level(labels: tuple[str, ...]) -> str:
    return "_".join(labels) if labels else "driftmon"


def _suffix(matchers: tuple[tuple[str, str, str], ...]) -> str:
    parts = [
        f"{label}_{'eq' if op == '=' else 'ne'}_{re.sub(r'[^A-Za-z0-9]', '_', value)}"
        for label, op, value in matchers
    ]
    return "".join(f"_{p}" for p in parts)


def _grouped_matchers(agg: Agg) -> tuple[tuple[str, str, str], ...]:
    """Matchers on grouped labels select gauge series; others cannot (the gauge lacks them)."""
    other = [m for m in agg.matchers if m[0] not in agg.labels]
    if other:
        raise Unexportable(
            f"the published gauge has no label {', '.join(sorted({m[0] for m in other}))}: group by it"
        )
    return agg.matchers


def _aggs(node: Compiled) -> Iterator[Agg]:
    """Every aggregation of a signal in `node`."""
    if isinstance(node, Agg):
        yield node
    elif isinstance(node, (Drift, BaselineAgg)):
        yield node.agg
    elif isinstance(node, Negate):
        yield from _aggs(node.operand)
    elif isinstance(node, BinOp):
        yield from _aggs(node.left)
        yield from _aggs(node.right)


def pod_labels(node: Compiled) -> tuple[str, ...]:
    """`POD_LABELS` where the rule reads an infrastructure signal (each pod alerts on its own:
    probe failing, GPU memory, backlog, scorer down), else () (the fleet, by the rule's `by`)."""
    for agg in _aggs(node):
        signal = EXPORTED.get(agg.signal)
        if signal is not None and signal.export is not None and signal.export.per_pod:
            return POD_LABELS
    return ()


class _Translator:
    """Builds one rule's PromQL, adding the recording rules it uses to `records`; `keep`: labels
    every aggregation groups by besides the rule's own (the pod, for infrastructure rules)."""

    def __init__(self, records: dict[str, str], keep: tuple[str, ...] = ()) -> None:
        self.records = records
        self.keep = keep

    def _kept(self, labels: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if labels is None else (*labels, *(k for k in self.keep if k not in labels))

    def node(self, node: Compiled) -> str:
        if isinstance(node, Scalar):
            return _number(node.value)
        if isinstance(node, Negate):
            if isinstance(node.operand, Scalar):
                return _number(-node.operand.value)
            return f"-({self.node(node.operand)})"
        if isinstance(node, Agg):
            return self.agg(node)
        if isinstance(node, Drift):
            return self.drift(node)
        if isinstance(node, BaselineAgg):
            return self.baseline(node)
        return self.binary(node)

    def operand(self, node: Compiled) -> str:
        text = self.node(node)
        wrap = isinstance(node, BinOp) or (isinstance(node, Negate) and not isinstance(node.operand, Scalar))
        return f"({text})" if wrap else text

    def binary(self, node: BinOp) -> str:
        left, right = self.operand(node.left), self.operand(node.right)
        matching = ""
        left_labels, right_labels = self._kept(node.left.labels), self._kept(node.right.labels)
        if left_labels is not None and right_labels is not None:
            narrow = left_labels if set(left_labels) <= set(right_labels) else right_labels
            matching = f" {_on(narrow)}"
            if set(left_labels) != set(right_labels) and node.op not in ("and", "or", "unless"):
                matching += " group_left" if narrow is right_labels else " group_right"
        return f"{left} {node.op}{matching} {right}"

    def record(self, name: str, expr: str) -> str:
        self.records[name] = expr
        return name

    def drift(self, node: Drift) -> str:
        """Any pod's drift: max over the statistic the daemon publishes."""
        agg = node.agg
        identity = (("signal", "=", agg.signal), ("method", "=", node.method))
        return _sum(agg.labels, _selector(DRIFT_GAUGE, (*identity, *_grouped_matchers(agg))), "max")

    def baseline(self, node: BaselineAgg) -> str:
        """The fleet's mean of the comparison each daemon publishes (Prometheus does not know
        which model version came before: each daemon does)."""
        agg = node.agg
        identity = (
            ("comparison", "=", node.kind),
            ("aggregate", "=", agg.func),
            ("signal", "=", agg.signal),
            ("window", "=", format_duration(agg.window)),
        )
        return _sum(agg.labels, _selector(BASELINE_GAUGE, (*identity, *_grouped_matchers(agg))), "avg")

    def agg(self, node: Agg) -> str:
        signal = SIGNALS.get(node.signal)
        if signal is None:
            raise Unexportable(f"signal {node.signal!r} has no Prometheus metric")
        missing = (set(node.labels) | {m[0] for m in node.matchers}) - signal.labels
        if missing:
            raise Unexportable(f"{signal.metric} has no label {', '.join(sorted(missing))}")
        node = replace(node, labels=self._kept(node.labels) or ())
        window = format_duration(node.window)
        metric = signal.metric.replace(":", "_")
        base = f"{_level(node.labels)}:{metric}:{{op}}_{window}{_suffix(node.matchers)}"
        if isinstance(signal, Histogram):
            value = self.histogram(node, signal, window, base)
        elif isinstance(signal, GaugeSignal):
            value = self.gauge(node, signal, window, base)
        else:
            value = self.counter_ratio(node, signal, window, base)
        if node.min_samples <= 0:
            return value
        count = self.count(node, signal, window, base)
        return f"({value} and {_on(node.labels)} {count} >= {node.min_samples})"

    def histogram(self, node: Agg, signal: Histogram, window: str, base: str) -> str:
        labels, m = node.labels, node.matchers
        count = _sum(labels, f"rate({_selector(signal.metric + '_count', m)}[{window}])")
        if node.func == "avg":
            total = _sum(labels, f"rate({_selector(signal.metric + '_sum', m)}[{window}])")
            return self.record(base.format(op="avg"), f"{total} / {count}")
        if node.func in QUANTILES:
            buckets = _sum(("le", *labels), f"rate({_selector(signal.metric + '_bucket', m)}[{window}])")
            quantile = f"histogram_quantile({QUANTILES[node.func]}, {buckets})"
            return self.record(base.format(op=node.func), quantile)
        if node.func == "share_below":
            assert node.param is not None
            if node.param not in signal.buckets:
                raise Unexportable(
                    f"share_below threshold {node.param} is not a bucket bound of {signal.metric} "
                    f"({', '.join(_number(b) for b in signal.buckets)})"
                )
            le = f'le="{_number(node.param)}"'
            below = _sum(labels, f"rate({_selector(signal.metric + '_bucket', m, le)}[{window}])")
            op = f"share_below_{_number(node.param).replace('.', '_')}"
            return self.record(base.format(op=op), f"{below} / {count}")
        if node.func == "rate":
            return self.record(base.format(op="rate"), count)
        if node.func == "count":
            return self.count(node, signal, window, base)
        if node.func == "sum":
            total = _sum(labels, f"increase({_selector(signal.metric + '_sum', m)}[{window}])")
            return self.record(base.format(op="sum"), total)
        raise Unexportable(f"{node.func}() of a histogram ({signal.metric}) has no PromQL equivalent")

    def gauge(self, node: Agg, signal: GaugeSignal, window: str, base: str) -> str:
        if signal.recording is not None:
            self.record(signal.metric, signal.recording)
        over = {"avg": "avg", "min": "min", "max": "max"}.get(node.func)
        if over is None:
            raise Unexportable(f"{node.func}() of gauge {signal.metric} has no exact PromQL equivalent")
        selector = _selector(signal.metric, node.matchers)
        return self.record(
            base.format(op=over), _sum(node.labels, f"{over}_over_time({selector}[{window}])", over)
        )

    def counter_ratio(self, node: Agg, signal: CounterRatio, window: str, base: str) -> str:
        if node.func != "avg":
            raise Unexportable(f"only avg() of the 0/1 signal {node.signal!r} is exported")
        hits = _selector(signal.metric, node.matchers, f'outcome="{signal.outcome}"')
        total = _selector(signal.metric, node.matchers)
        share = _sum(node.labels, f"increase({hits}[{window}])")
        expr = f"{share} / {_sum(node.labels, f'increase({total}[{window}])')}"
        return self.record(base.format(op=f"{signal.outcome}_ratio"), expr)

    def count(self, node: Agg, signal: Histogram | GaugeSignal | CounterRatio, window: str, base: str) -> str:
        name = base.format(op="count")
        if isinstance(signal, Histogram):
            selector = _selector(signal.metric + "_count", node.matchers)
            return self.record(name, _sum(node.labels, f"increase({selector}[{window}])"))
        selector = _selector(signal.metric, node.matchers)
        if isinstance(signal, CounterRatio):
            return self.record(name, _sum(node.labels, f"increase({selector}[{window}])"))
        return self.record(name, _sum(node.labels, f"count_over_time({selector}[{window}])"))


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(result: ExportResult, fmt: str = "prometheus", name: str = "driftmon") -> str:
    """The groups as a Prometheus rule file, or wrapped in a PrometheusRule object."""
    doc: dict[str, Any] = {"groups": result.groups}
    if fmt == "prometheusrule":
        doc = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "driftmon"}},
            "spec": doc,
        }
    header = "# Generated by `driftmon rules export`; edit the driftmon rule files instead.\n"
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
