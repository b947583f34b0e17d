"""The rules runtime the daemon wires in: readings in, alerts out, state kept across restarts.

Wiring (daemon.py)::

    runtime = RuleRuntime(config, store)           # loads rules/ (RuleError: stop with its message),
                                                   # restores alert states, reads the store's recent
                                                   # samples into memory
    runtime.register(registry)                     # driftmon_alerts, rule evaluation metrics
    pipeline sinks: runtime.record(ts, labels, values)   # every scored sample (store.reading_values)
                                                          # and every event (probe_failure, shed, GPU,
                                                          # queue_fill_ratio); any thread
    loop, every ~1 s or rules.evaluation_interval:
        alerts = runtime.evaluate()                # evaluates the groups that are due; returns
        notifier.submit(alerts, now)               # EVERY current alert (pending, firing, and
                                                   # resolved ones for 15 min); never raises
    on SIGHUP: runtime.reload()                    # False (and rules_status()["reload_error"]) when
                                                   # a file is broken; the previous rules stay
    GET /v1/alerts → runtime.alerts();  GET /v1/rules → runtime.rules_status()   (JSON-able)
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from driftmon.alerts import Alert
from driftmon.api.links import links_of, with_links
from driftmon.config import Config
from driftmon.rules.baselines import Baselines, PinStore
from driftmon.rules.compile import max_window
from driftmon.rules.engine import Health, States, evaluate_group, rule_key
from driftmon.rules.evaluate import BASELINE_GAUGE, DRIFT_GAUGE, Vector, plan_order_stats
from driftmon.rules.model import Group, Rule, RuleSet, check_rules, defaults_from, describe, load_rules
from driftmon.rules.state import AlertStateStore
from driftmon.rules.window import LabelKey, WindowStore
from driftmon.store import Store

log = structlog.get_logger("driftmon.rules")


@dataclass
class RuleStatus:
    """What /v1/rules shows for one rule."""

    health: Health = "unknown"
    last_error: str | None = None
    last_evaluation: float | None = None
    duration: float = 0.0
    nodata: int = 0


@dataclass
class GroupStatus:
    """What /v1/rules shows for one group."""

    last_evaluation: float | None = None
    duration: float = 0.0
    failures: int = 0
    last_error: str | None = None
    #: evaluations skipped because the previous one (or the loop) ran late
    missed: int = 0


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def alert_json(alert: Alert) -> dict[str, Any]:
    """An alert for /v1/alerts (times as RFC 3339; `startsAt` is when it started firing)."""
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "state": "resolved" if alert.state == "inactive" else alert.state,
        "activeAt": _iso(alert.active_at),
        "startsAt": _iso(alert.fired_at),
        "resolvedAt": _iso(alert.resolved_at),
        "value": alert.value,
        "fingerprint": alert.fingerprint,
    }


class RuleRuntime:
    """Rules over an in-memory window of readings, evaluated group by group on their intervals."""

    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Callable[[], float] = time.time,
        hydrate: bool = True,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.defaults = defaults_from(config)
        self.links = links_of(config.server, config.alerting)
        self.ruleset = with_links(load_rules(config.rules.paths, self.defaults), *self.links)
        self._plan = plan_order_stats(rule.expr for rule in self.ruleset.rules)
        self.window = WindowStore(self._retention(self.ruleset))
        self._conn = store.connect()
        self._state_store = AlertStateStore(self._conn)
        self._pins = PinStore(self._conn)
        self._pin_stamp: float | None = None
        now = clock()
        self.states: dict[str, States] = self._state_store.load(now)
        self._hold_until = self._restore_grace(now)
        rules = config.rules
        self.baselines = Baselines(self.window, rules.baseline_min_samples, rules.baseline_window)
        self._lock = threading.Lock()
        self._due: dict[str, float] = {}
        self._groups: dict[str, GroupStatus] = {}
        self._rules: dict[str, RuleStatus] = {}
        self._gauges: dict[str, dict[tuple[str, LabelKey], float]] = {}  # by group
        self.reload_error: str | None = None
        self.last_reload: float = now
        self._metrics = _Metrics(self)
        if hydrate:
            self.hydrate(now)

    def _restore_grace(self, now: float) -> dict[str, float]:
        """Rules with restored active alerts: until their longest window has refilled, no data
        does not clear them (signals that are not stored, e.g. probe or GPU readings, start empty
        after a restart) — as Prometheus's ``for_grace_period`` protects restored alerts."""
        return {
            rule_key(rule): now + max_window(rule.expr)
            for rule in self.ruleset.rules
            if any(inst.alert.state != "inactive" for inst in self.states.get(rule_key(rule), {}).values())
        }

    # ---------------------------------------------------------------------------- data in

    def _retention(self, ruleset: RuleSet) -> float:
        rules = self.config.rules
        return max(ruleset.max_window(), rules.retention, rules.baseline_window)

    def hydrate(self, now: float) -> int:
        """Read the store's samples of the retention span into memory; returns how many. Samples
        another scorer scored (before an upgrade) feed the rules but no automatic baseline."""
        from driftmon.scoring.factory import configured_version

        scorer = configured_version(self.config.scoring)
        count = 0
        for reading in self.store.iter_readings(now - self.window.retention):
            alike = reading.scorer_version in (None, scorer)  # None: not recorded, taken as alike
            self.window.record(reading.ts, reading.labels, reading.values, note_version=alike)
            count += 1
        self.window.compact(now)
        return count

    def record(self, ts: float, labels: Mapping[str, str], values: Mapping[str, float | None]) -> None:
        """`ReadingSink`: one reading's values (scores, latency, events) under its labels."""
        self.window.record(ts, labels, values)

    # ---------------------------------------------------------------------------- evaluation

    def evaluate(self, now: float | None = None) -> list[Alert]:
        """Evaluate every group that is due at `now`; returns every current alert. Never raises."""
        now = self.clock() if now is None else now
        with self._lock:  # evaluate() and reload() may come from different threads
            self._evaluate_due(now)
        return self.current_alerts()

    def _evaluate_due(self, now: float) -> None:
        try:
            self.window.compact(now)
            self._refresh_pin()
            self.baselines.refresh()
        except Exception:  # the window or the pin table failing must not stop evaluation
            log.exception("rules_prepare_failed")
        cache: dict[tuple[object, ...], Vector] = {}  # aggregates shared by the groups due now
        for group in self.ruleset.groups:
            due = self._due.get(group.name)
            if due is None or now + 1e-9 >= due:
                self._evaluate_group(group, now, cache)
                self._due[group.name] = _next_due(due, group.interval, now)
                missed = _missed(due, group.interval, now)
                if missed:
                    self._groups[group.name].missed += missed
                    self._metrics.missed.labels(group.name).inc(missed)
                    log.warning("rules_group_missed_evaluations", group=group.name, missed=missed)

    def _refresh_pin(self) -> None:
        stamp = self._pins.stamp()
        if stamp != self._pin_stamp:
            self.baselines.pin = self._pins.load()
            self._pin_stamp = stamp

    def _evaluate_group(self, group: Group, now: float, cache: dict[tuple[object, ...], Vector]) -> None:
        status = self._groups.setdefault(group.name, GroupStatus())
        try:
            outcome = evaluate_group(
                group, self.states, self.window, now, self.baselines, cache, self._plan, self._hold_until
            )
        except Exception as exc:  # counted, reported, and the other groups still run
            status.failures += 1
            status.last_error = f"{type(exc).__name__}: {exc}"
            self._metrics.failed(group.name)
            log.exception("rules_group_failed", group=group.name)
            return
        for rule, result in outcome.rules:
            key = rule_key(rule)
            self.states[key] = result.states
            self._rules[key] = RuleStatus(result.health, result.error, now, result.duration, result.nodata)
            if result.error:
                self._metrics.failed(group.name)
            self._persist(key, result.states)
        status.last_evaluation, status.duration = now, outcome.duration
        status.failures += outcome.failures
        status.last_error = next((r.error for _, r in outcome.rules if r.error), None)
        self._gauges[group.name] = outcome.gauges
        self._metrics.evaluated(group.name, outcome.duration, now)

    def _persist(self, key: str, states: States) -> None:
        try:
            self._state_store.save(key, states)
        except sqlite3.Error:
            log.exception("rules_state_save_failed", rule=key)

    # ---------------------------------------------------------------------------- reload

    def reload(self) -> bool:
        """Re-read the rule files; on any problem keep the current rules and report it."""
        with self._lock:
            return self._reload()

    def _reload(self) -> bool:
        ruleset, problems = check_rules(self.config.rules.paths, self.defaults)
        self.last_reload = self.clock()
        if problems:
            self.reload_error = describe(problems)
            log.error("rules_reload_failed", problems=self.reload_error, kept="previous rules")
            return False
        keys = {rule_key(rule) for rule in ruleset.rules}
        self.states = {key: states for key, states in self.states.items() if key in keys}
        self._state_store.forget_except(keys)
        self._rules = {key: status for key, status in self._rules.items() if key in keys}
        self._due = {}
        self.ruleset = with_links(ruleset, *self.links)
        self._plan = plan_order_stats(rule.expr for rule in ruleset.rules)
        self.window.retention = self._retention(ruleset)
        self.reload_error = None
        return True

    # ---------------------------------------------------------------------------- views

    def current_alerts(self) -> list[Alert]:
        """Every current alert: pending, firing, and resolved ones kept for 15 minutes."""
        return [inst.alert for states in list(self.states.values()) for inst in list(states.values())]

    def alerts(self) -> list[dict[str, Any]]:
        """JSON-able alerts for GET /v1/alerts."""
        return [alert_json(alert) for alert in self.current_alerts()]

    def rules_status(self) -> dict[str, Any]:
        """JSON-able rule groups for GET /v1/rules: health, last evaluation, duration, errors."""
        return {
            "groups": [self._group_json(group) for group in self.ruleset.groups],
            "files": list(self.ruleset.files),
            "reload_error": self.reload_error,
            "last_reload": _iso(self.last_reload),
            "baseline": self.baselines.pin.summary() if self.baselines.pin else "previous model version",
        }

    def _group_json(self, group: Group) -> dict[str, Any]:
        status = self._groups.get(group.name, GroupStatus())
        return {
            "name": group.name,
            "file": group.path,
            "interval": group.interval,
            "lastEvaluation": _iso(status.last_evaluation),
            "evaluationTime": status.duration,
            "failures": status.failures,
            "missedIterations": status.missed,
            "lastError": status.last_error,
            "rules": [self._rule_json(rule) for rule in group.rules],
        }

    def _rule_json(self, rule: Rule) -> dict[str, Any]:
        key = rule_key(rule)
        status = self._rules.get(key, RuleStatus())
        return {
            "name": rule.name,
            "query": rule.expr_text,
            "duration": rule.for_,
            "keepFiringFor": rule.keep_firing_for,
            "minSamples": rule.min_samples,
            "by": list(rule.by),
            "labels": dict(rule.labels),
            "annotations": {k: t.source for k, t in rule.annotations.items()},
            "health": status.health,
            "lastError": status.last_error,
            "lastEvaluation": _iso(status.last_evaluation),
            "evaluationTime": status.duration,
            "nodataElements": status.nodata,
            "alerts": [alert_json(i.alert) for i in self.states.get(key, {}).values()],
        }

    def gauges(self) -> dict[tuple[str, LabelKey], float]:
        """The latest drift statistics and baseline comparisons: (metric, labels) → value."""
        return {key: value for group in list(self._gauges.values()) for key, value in group.items()}

    # ---------------------------------------------------------------------------- metrics

    def register(self, registry: CollectorRegistry) -> None:
        """Register driftmon_alerts, driftmon_drift_statistic, driftmon_baseline_comparison and the
        rule evaluation metrics."""
        self._metrics.register(registry)

    def close(self) -> None:
        """Close the runtime's database connection."""
        self._conn.close()


def _missed(due: float | None, interval: float, now: float) -> int:
    """Whole intervals skipped since `due` (a slow evaluation or a stalled loop)."""
    if due is None:
        return 0
    return max(0, int((now - due + 1e-9) // interval))


def _next_due(previous: float | None, interval: float, now: float) -> float:
    """The next multiple of `interval` after `now`, counted from the first evaluation."""
    if previous is None:
        return now + interval
    due = previous
    while due <= now + 1e-9:
        due += interval
    return due


class _Metrics:
    """The runtime's Prometheus metrics; created unregistered, registered on demand."""

    def __init__(self, runtime: RuleRuntime) -> None:
        self.duration = Histogram(
            "driftmon_rule_evaluation_duration_seconds",
            "Time to evaluate one rule group.",
            ["rule_group"],
            registry=None,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.failures = Counter(
            "driftmon_rule_evaluation_failures",
            "Rule evaluations that failed (the rule keeps its previous state).",
            ["rule_group"],
            registry=None,
        )
        self.last = Gauge(
            "driftmon_rule_group_last_evaluation_timestamp_seconds",
            "When the rule group was last evaluated (Unix seconds).",
            ["rule_group"],
            registry=None,
        )
        self.missed = Counter(
            "driftmon_rule_group_iterations_missed",
            "Evaluations of the rule group skipped because an evaluation or the loop ran late.",
            ["rule_group"],
            registry=None,
        )
        self.collector = _AlertCollector(runtime)

    def register(self, registry: CollectorRegistry) -> None:
        for collector in (self.duration, self.failures, self.last, self.missed, self.collector):
            registry.register(collector)

    def evaluated(self, group: str, duration: float, now: float) -> None:
        self.duration.labels(group).observe(duration)
        self.last.labels(group).set(now)
        self.failures.labels(group)
        self.missed.labels(group)

    def failed(self, group: str) -> None:
        self.failures.labels(group).inc()


_ALERTS_HELP = "Pending and firing alerts (1 per instance), like ALERTS."
_GAUGE_HELP = {
    DRIFT_GAUGE: "Latest statistic of a rule's drift() (ks, psi or wasserstein) against the baseline.",
    BASELINE_GAUGE: "Latest value of a rule's ratio() or delta() of an aggregate against the baseline.",
}


class _AlertCollector(Collector):
    """driftmon_alerts (as Prometheus's ALERTS) and the rules' baseline gauges, read at scrape."""

    def __init__(self, runtime: RuleRuntime) -> None:
        self.runtime = runtime

    def describe(self) -> Iterable[Metric]:
        gauges = [Metric(name, text, "gauge") for name, text in _GAUGE_HELP.items()]
        return [Metric("driftmon_alerts", _ALERTS_HELP, "gauge"), *gauges]

    def collect(self) -> Iterable[Metric]:
        alerts = Metric("driftmon_alerts", _ALERTS_HELP, "gauge")
        for alert in self.runtime.current_alerts():
            if alert.state != "inactive":
                alerts.add_sample("driftmon_alerts", {**alert.labels, "alertstate": alert.state}, 1.0)
        gauges = {name: Metric(name, text, "gauge") for name, text in _GAUGE_HELP.items()}
        for (name, labels), value in sorted(self.runtime.gauges().items()):
            gauges[name].add_sample(name, dict(labels), value)
        return [alerts, *gauges.values()]


__all__ = ["GroupStatus", "RuleRuntime", "RuleStatus", "alert_json"]
