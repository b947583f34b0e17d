"""`driftmon rules test FILE`: rule unit tests in the spirit of ``promtool test rules``.

    rule_files: [driftmon.yaml]          # relative to the test file
    evaluation_interval: 30s             # default 1m
    baseline_min_samples: 100            # automatic baselines (default 100)
    baseline_window: 1h                  # default 1h
    tests:
      - name: a model swap pages
        interval: 1m                     # spacing of input values (default: evaluation_interval)
        input_series:
          - series: 'fidelity{model_version="v1", source="push"}'
            values: '0.92x60 _x60'       # promtool notation: a+bxN, axN (N+1 values), _xN (N gaps)
        alert_rule_test:
          - eval_time: 70m
            alertname: TextFidelityLow
            exp_alerts:                  # the FIRING alerts of that name at eval_time
              - exp_labels: {severity: page, model_version: v2}
                exp_annotations: {...}   # optional; compared exactly when given

Every group is evaluated at each multiple of its interval from 0 to the last eval_time, on the
readings with ts ≤ that instant, with the same engine the daemon runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from driftmon.alerts import Alert
from driftmon.durations import parse_duration
from driftmon.errors import ExprSyntaxError, RuleError
from driftmon.rules.baselines import Baselines
from driftmon.rules.engine import States, evaluate_group, rule_key
from driftmon.rules.evaluate import Vector, plan_order_stats
from driftmon.rules.expr import Selector, parse
from driftmon.rules.model import Defaults, RuleSet, load_rules
from driftmon.rules.window import LabelKey, WindowStore
from driftmon.signals import ALIASES

_ITEM = re.compile(
    r"^(?P<a>-?[\d.]+(?:e[+-]?\d+)?)(?:(?P<sign>[+-])(?P<b>[\d.]+(?:e[+-]?\d+)?))?x(?P<n>\d+)$"
)


def expand_values(text: str) -> list[float | None]:
    """Expand promtool's series notation; None marks a missing value (``_``)."""
    out: list[float | None] = []
    for item in str(text).split():
        if item == "_":
            out.append(None)
        elif item.startswith("_x"):
            out.extend([None] * int(item[2:]))
        elif (match := _ITEM.match(item)) is not None:
            start = float(match["a"])
            step = float(match["b"] or 0) * (-1 if match["sign"] == "-" else 1)
            out.extend(start + step * i for i in range(int(match["n"]) + 1))
        else:
            try:
                out.append(float(item))
            except ValueError:
                raise RuleError(
                    f"bad value {item!r} in series values (use e.g. 0.92x30, 1+1x10, _x5)"
                ) from None
    return out


def parse_series(text: str) -> tuple[str, dict[str, str]]:
    """``signal{label="value", ...}`` → signal name and labels."""
    try:
        node = parse(text)
    except ExprSyntaxError as exc:
        raise RuleError(f"bad series {text!r}: column {exc.pos + 1}: {exc.message}") from None
    if not isinstance(node, Selector) or node.window is not None or any(m.op != "=" for m in node.matchers):
        raise RuleError(f'bad series {text!r}: write signal{{label="value", ...}}')
    return ALIASES.get(node.signal, node.signal), {m.label: m.value for m in node.matchers}


@dataclass
class TestResult:
    """One test's name and its failures (empty when it passed)."""

    name: str
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Point:
    """One input value: time, signal, labels."""

    ts: float
    signal: str
    labels: Mapping[str, str]
    value: float


def _points(test: Mapping[str, Any], interval: float) -> list[Point]:
    points = []
    for series in test.get("input_series") or []:
        signal, labels = parse_series(series["series"])
        for index, value in enumerate(expand_values(series["values"])):
            if value is not None:
                points.append(Point(index * interval, signal, labels, value))
    return sorted(points, key=lambda p: p.ts)


def simulate(
    ruleset: RuleSet,
    points: list[Point],
    times: list[float],
    baseline_min_samples: int = 100,
    baseline_window: float = 3600.0,
    gauges: dict[float, dict[tuple[str, LabelKey], float]] | None = None,
) -> dict[float, dict[str, list[Alert]]]:
    """Run the engine over `points`; the instances of each rule name at each time in `times`.

    `gauges`, if given, receives at each evaluation time the gauges the daemon would publish then
    (driftmon_baseline_comparison, driftmon_drift_statistic), keyed by (name, labels)."""
    window = WindowStore(retention=max(ruleset.max_window(), baseline_window) + 3600.0)
    baselines = Baselines(window, baseline_min_samples, baseline_window)
    states: dict[str, States] = {}
    end = max(times, default=0.0)
    step = min((g.interval for g in ruleset.groups), default=60.0)
    snapshots: dict[float, dict[str, list[Alert]]] = {}
    fed, now = 0, 0.0
    wanted = sorted(set(times))
    plan = plan_order_stats(rule.expr for rule in ruleset.rules)
    while now <= end + 1e-9:
        while fed < len(points) and points[fed].ts <= now:
            point = points[fed]
            window.record(point.ts, point.labels, {point.signal: point.value})
            fed += 1
        window.compact(now)
        baselines.refresh()
        cache: dict[tuple[object, ...], Vector] = {}
        for group in ruleset.groups:
            if _due(now, group.interval):
                outcome = evaluate_group(group, states, window, now, baselines, cache, plan)
                for rule, result in outcome.rules:
                    states[rule_key(rule)] = result.states
                if gauges is not None:
                    gauges.setdefault(now, {}).update(outcome.gauges)
        for at in wanted:
            if abs(at - now) < 1e-9 or (now < at < now + step):
                snapshots[at] = _by_name(ruleset, states)
        now = round(now + step, 9)
    return snapshots


def _due(now: float, interval: float) -> bool:
    ratio = now / interval
    return abs(ratio - round(ratio)) < 1e-9


def _by_name(ruleset: RuleSet, states: Mapping[str, States]) -> dict[str, list[Alert]]:
    out: dict[str, list[Alert]] = {}
    for rule in ruleset.rules:
        out.setdefault(rule.name, []).extend(i.alert for i in states.get(rule_key(rule), {}).values())
    return out


def run_file(path: Path | str, defaults: Defaults | None = None) -> list[TestResult]:
    """Run every test in a test file; RuleError when the file itself is unusable."""
    path = Path(path)
    defaults = defaults or Defaults()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RuleError(f"{path}: cannot read test file: {exc}") from exc
    if not isinstance(doc, dict) or "tests" not in doc:
        raise RuleError(f"{path}: a rule test file needs 'rule_files' and 'tests'")
    files = [path.parent / f for f in doc.get("rule_files") or []]
    interval = parse_duration(doc.get("evaluation_interval", "1m"))
    ruleset = load_rules(
        files, Defaults(interval, defaults.default_window, defaults.min_samples, defaults.known_signals)
    )
    min_samples = int(doc.get("baseline_min_samples", 100))
    window = parse_duration(doc.get("baseline_window", "1h"))
    return [_run_test(ruleset, test, interval, min_samples, window) for test in doc["tests"]]


def _run_test(
    ruleset: RuleSet, test: Mapping[str, Any], interval: float, min_samples: int, window: float
) -> TestResult:
    result = TestResult(str(test.get("name", "(unnamed)")))
    points = _points(test, parse_duration(test.get("interval", interval)))
    checks = test.get("alert_rule_test") or []
    times = [parse_duration(c["eval_time"]) for c in checks]
    snapshots = simulate(ruleset, points, times, min_samples, window)
    for check, at in zip(checks, times, strict=True):
        firing = [i for i in snapshots.get(at, {}).get(check["alertname"], []) if i.state == "firing"]
        result.failures.extend(_compare(check, firing))
    return result


def _compare(check: Mapping[str, Any], firing: list[Alert]) -> list[str]:
    name, at = check["alertname"], check["eval_time"]
    expected = check.get("exp_alerts") or []
    got = [{k: v for k, v in i.labels.items() if k != "alertname"} for i in firing]
    want = [{str(k): str(v) for k, v in (e.get("exp_labels") or {}).items()} for e in expected]
    if sorted(map(sorted_items, got)) != sorted(map(sorted_items, want)):
        return [f"{name} at {at}: expected firing {want}, got {got}"]
    failures = []
    for exp in expected:
        if "exp_annotations" not in exp:
            continue
        labels = {str(k): str(v) for k, v in (exp.get("exp_labels") or {}).items()}
        inst = next(i for i in firing if {k: v for k, v in i.labels.items() if k != "alertname"} == labels)
        want_ann = {str(k): str(v) for k, v in exp["exp_annotations"].items()}
        if dict(inst.annotations) != want_ann:
            failures.append(
                f"{name} at {at} {labels}: expected annotations {want_ann}, got {dict(inst.annotations)}"
            )
    return failures


def sorted_items(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """Labels as a sorted list (for order-free comparison)."""
    return sorted(labels.items())
