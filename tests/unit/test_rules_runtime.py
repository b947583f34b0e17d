"""RuleRuntime: scheduling, reload, restart with restored state, HTTP views and metrics."""

from __future__ import annotations

import dataclasses
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from driftmon.config import Config, RulesConfig, StoreConfig
from driftmon.errors import RuleError
from driftmon.rules.baselines import pin_from_store
from driftmon.rules.runtime import RuleRuntime
from driftmon.samples import SampleMeta, ScoredSample
from driftmon.store import Store
from tests.support import FakeClock

T0 = 1_700_000_000.0
RULES = """
groups:
  - name: quality
    interval: 30s
    rules:
      - alert: TextFidelityLow
        expr: fidelity < 0.85
        for: 2m
        by: [model_version]
        min_samples: 3
        labels: {severity: page}
        annotations: {summary: 'fidelity {{ $value | printf "%.2f" }} on {{ $labels.model_version }}'}
  - name: slow
    interval: 5m
    rules:
      - alert: AlwaysNoData
        expr: avg(word_f1[1m]) < 0.1
        min_samples: 1000
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Config, Store, Path]:
    """A config whose rules directory and store live in tmp_path."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(textwrap.dedent(RULES))
    config = Config(
        rules=RulesConfig(paths=[rules], baseline_min_samples=5),
        store=StoreConfig(path=tmp_path / "driftmon.db"),
    )
    return config, Store(config.store.path), rules


def feed(runtime: RuleRuntime, clock: FakeClock, seconds: float, value: float, version: str = "v2") -> list:
    """Every 10 s store a sample, record it and evaluate, for `seconds`; the last alerts."""
    alerts: list = []
    end = clock.now + seconds
    while clock.now < end:
        clock.now += 10.0
        meta = SampleMeta(model_version=version)
        sample = ScoredSample(
            f"s{clock.now}", "push", clock.now, clock.now, meta, {"text_fidelity": value}, "", "", {}, False
        )
        runtime.store.add(sample)
        runtime.record(clock.now, sample.labels, {"text_fidelity": value})
        alerts = runtime.evaluate()
    return alerts


def test_fires_and_reports(setup: tuple[Config, Store, Path]) -> None:
    """Low fidelity for longer than `for` gives a firing alert in evaluate(), alerts() and rules_status()."""
    config, store, _ = setup
    clock = FakeClock(T0)
    runtime = RuleRuntime(config, store, clock)
    alerts = feed(runtime, clock, 300, 0.6)
    firing = [a for a in alerts if a.state == "firing"]
    assert [a.labels for a in firing] == [
        {"model_version": "v2", "severity": "page", "alertname": "TextFidelityLow"}
    ]
    assert firing[0].annotations == {"summary": "fidelity 0.60 on v2"}
    assert firing[0].fired_at is not None and firing[0].fired_at - firing[0].active_at >= 120
    view = runtime.alerts()
    assert view[0]["state"] == "firing" and view[0]["startsAt"].endswith("Z")
    status = runtime.rules_status()
    json.dumps(status)
    quality, slow = status["groups"]
    assert quality["rules"][0]["health"] == "ok" and quality["rules"][0]["alerts"]
    assert slow["rules"][0]["health"] == "nodata"


def test_groups_evaluate_on_their_own_interval(setup: tuple[Config, Store, Path]) -> None:
    """A 5m group is evaluated once while a 30s group is evaluated every 30 s."""
    config, store, _ = setup
    clock = FakeClock(T0)
    runtime = RuleRuntime(config, store, clock)
    registry = CollectorRegistry()
    runtime.register(registry)
    for step in range(10):
        runtime.evaluate(T0 + 30.0 * step)
    count = "driftmon_rule_evaluation_duration_seconds_count"
    assert registry.get_sample_value(count, {"rule_group": "quality"}) == 10
    assert registry.get_sample_value(count, {"rule_group": "slow"}) == 1
    stamp = registry.get_sample_value(
        "driftmon_rule_group_last_evaluation_timestamp_seconds", {"rule_group": "slow"}
    )
    assert stamp == T0


def test_late_evaluation_counts_missed_iterations(setup: tuple[Config, Store, Path]) -> None:
    """Evaluating at 150 s a 30 s group last run at 0 counts the ticks at 30, 60, 90 and 120 as missed."""
    config, store, _ = setup
    runtime = RuleRuntime(config, store, FakeClock(T0))
    registry = CollectorRegistry()
    runtime.register(registry)
    runtime.evaluate(T0)
    runtime.evaluate(T0 + 150.0)
    missed = "driftmon_rule_group_iterations_missed_total"
    assert registry.get_sample_value(missed, {"rule_group": "quality"}) == 4
    assert runtime.rules_status()["groups"][0]["missedIterations"] == 4


def test_alert_metrics(setup: tuple[Config, Store, Path]) -> None:
    """driftmon_alerts carries alertname, alertstate and the alert's labels, like ALERTS."""
    config, store, _ = setup
    clock = FakeClock(T0)
    runtime = RuleRuntime(config, store, clock)
    registry = CollectorRegistry()
    runtime.register(registry)
    feed(runtime, clock, 60, 0.6)
    labels = {
        "alertname": "TextFidelityLow",
        "alertstate": "pending",
        "model_version": "v2",
        "severity": "page",
    }
    assert registry.get_sample_value("driftmon_alerts", labels) == 1.0
    feed(runtime, clock, 120, 0.6)
    assert registry.get_sample_value("driftmon_alerts", {**labels, "alertstate": "firing"}) == 1.0
    assert registry.get_sample_value("driftmon_alerts", labels) is None


def test_restart_keeps_starts_at(setup: tuple[Config, Store, Path]) -> None:
    """A new runtime on the same database (state table + stored samples) resumes the firing alert
    with the same fired_at."""
    config, store, _ = setup
    clock = FakeClock(T0)
    first = RuleRuntime(config, store, clock)
    alerts = feed(first, clock, 300, 0.6)
    fired_at = next(a.fired_at for a in alerts if a.state == "firing")
    first.close()
    second = RuleRuntime(config, store, clock)
    restored = second.current_alerts()
    assert [(a.state, a.fired_at) for a in restored] == [("firing", fired_at)]
    alerts = feed(second, clock, 60, 0.6)
    assert [(a.state, a.fired_at) for a in alerts] == [("firing", fired_at)]


def test_restart_mid_pending_keeps_active_at(setup: tuple[Config, Store, Path]) -> None:
    """A pending alert restored after a restart fires at active_at + for, not later."""
    config, store, _ = setup
    clock = FakeClock(T0)
    first = RuleRuntime(config, store, clock)
    alerts = feed(first, clock, 60, 0.6)
    active_at = alerts[0].active_at
    first.close()
    second = RuleRuntime(config, store, clock)
    alerts = feed(second, clock, 120, 0.6)
    assert alerts[0].state == "firing" and alerts[0].active_at == active_at
    assert alerts[0].fired_at is not None and alerts[0].fired_at - active_at <= 120 + 30


def test_restart_keeps_alerts_on_signals_that_are_not_stored(tmp_path: Path) -> None:
    """Probe outcomes are not in the store: after a restart the window is empty, yet the restored
    firing alert is held (same startsAt) until its window could have refilled, then resolves."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "p.yaml").write_text(
        "groups:\n  - name: probes\n    interval: 30s\n    rules:\n      - alert: ProbeFailing\n"
        "        expr: avg(probe_failure[5m]) > 0.5\n        by: [probe]\n"
    )
    config = Config(rules=RulesConfig(paths=[rules]), store=StoreConfig(path=tmp_path / "d.db"))
    store = Store(config.store.path)
    clock = FakeClock(T0)
    first = RuleRuntime(config, store, clock)
    first.record(T0, {"source": "probe", "probe": "sign"}, {"probe_failure": 1.0})
    fired = first.evaluate(T0)[0]
    assert fired.state == "firing"
    first.close()
    clock.now = T0 + 60
    second = RuleRuntime(config, store, clock)
    for now in (T0 + 60, T0 + 90, T0 + 330):
        alerts = second.evaluate(now)
        assert [(a.state, a.fired_at) for a in alerts] == [("firing", fired.fired_at)]
    resolved = second.evaluate(T0 + 390)
    assert [(a.state, a.resolved_at) for a in resolved] == [("inactive", T0 + 390)]


def test_hydrates_from_the_store(setup: tuple[Config, Store, Path]) -> None:
    """Samples already in the store count at start: the first evaluation sees their window."""
    config, store, _ = setup
    for index in range(5):
        meta = SampleMeta(model_version="v2", latency_seconds=0.3)
        sample = ScoredSample(
            f"s{index}", "push", T0 - 50 + index * 10, T0, meta, {"text_fidelity": 0.5}, "", "", {}, True
        )
        store.add(sample)
    runtime = RuleRuntime(config, store, FakeClock(T0))
    alerts = runtime.evaluate(T0)
    assert [(a.state, a.value) for a in alerts] == [("pending", 0.5)]


def test_reload_keeps_previous_rules_on_a_broken_file(setup: tuple[Config, Store, Path]) -> None:
    """A broken file on reload is reported; the previous rules keep evaluating; a fix is taken."""
    config, store, rules = setup
    runtime = RuleRuntime(config, store, FakeClock(T0))
    (rules / "r.yaml").write_text(textwrap.dedent(RULES).replace("fidelity < 0.85", "fidelity <"))
    assert runtime.reload() is False
    assert runtime.rules_status()["reload_error"].startswith(f"{rules / 'r.yaml'}:")
    assert [r.name for r in runtime.ruleset.rules] == ["TextFidelityLow", "AlwaysNoData"]
    (rules / "r.yaml").write_text(textwrap.dedent(RULES).replace("TextFidelityLow", "FidelityLow"))
    assert runtime.reload() is True
    assert runtime.rules_status()["reload_error"] is None
    assert [r.name for r in runtime.ruleset.rules] == ["FidelityLow", "AlwaysNoData"]


def test_broken_file_at_start_raises(setup: tuple[Config, Store, Path]) -> None:
    """At start a broken rule file stops the runtime with file:line:col."""
    config, store, rules = setup
    (rules / "r.yaml").write_text(textwrap.dedent(RULES).replace("fidelity < 0.85", "fidelity <"))
    with pytest.raises(RuleError, match=r"r\.yaml:7:\d+: unexpected end of expression"):
        RuleRuntime(config, store, FakeClock(T0))


def test_failed_group_is_counted_and_others_run(setup: tuple[Config, Store, Path]) -> None:
    """A group that raises increments the failure counter; the other group still evaluates."""
    config, store, _ = setup
    runtime = RuleRuntime(config, store, FakeClock(T0))
    registry = CollectorRegistry()
    runtime.register(registry)
    broken = runtime.ruleset.groups[1]
    bad_rule = dataclasses.replace(broken.rules[0], expr=object())  # evaluating it raises
    object.__setattr__(broken, "rules", (bad_rule,))
    runtime.evaluate(T0)
    failures = "driftmon_rule_evaluation_failures_total"
    assert registry.get_sample_value(failures, {"rule_group": "slow"}) == 1
    assert registry.get_sample_value(failures, {"rule_group": "quality"}) == 0
    assert runtime.rules_status()["groups"][1]["lastError"]


def test_pinned_baseline_is_used(setup: tuple[Config, Store, Path], tmp_path: Path) -> None:
    """After `baseline pin`, delta() compares every version with the pinned one, and the comparison
    is published as driftmon_baseline_comparison."""
    config, store, rules = setup
    (rules / "r.yaml").write_text(
        textwrap.dedent(
            """
            groups:
              - name: swap
                rules:
                  - alert: Regression
                    expr: delta(avg(fidelity[10m]), baseline) < -0.1
                    by: [model_version]
            """
        )
    )
    for index in range(10):
        meta = SampleMeta(model_version="v1")
        store.add(
            ScoredSample(
                f"a{index}", "push", T0 - 1000 + index, T0, meta, {"text_fidelity": 0.95}, "", "", {}, False
            )
        )
    assert pin_from_store(store, "v1", 3600.0, T0) == 10
    runtime = RuleRuntime(config, store, FakeClock(T0))
    registry = CollectorRegistry()
    runtime.register(registry)
    runtime.record(T0 + 5, {"model_version": "v0"}, {"text_fidelity": 0.7})
    alerts = runtime.evaluate(T0 + 10)
    assert [(a.labels["model_version"], round(a.value or 0, 2)) for a in alerts] == [("v0", -0.25)]
    gauge = {"comparison": "delta", "aggregate": "avg", "signal": "text_fidelity", "window": "10m"}
    published = registry.get_sample_value("driftmon_baseline_comparison", {**gauge, "model_version": "v0"})
    assert published == pytest.approx(-0.25)
    assert runtime.rules_status()["baseline"]["model_version"] == "v1"


def test_shipped_rules_load_in_the_runtime(tmp_path: Path) -> None:
    """The runtime starts on the repository's rules/ directory."""
    repo_rules = Path(__file__).resolve().parents[2] / "rules"
    target = tmp_path / "rules"
    shutil.copytree(repo_rules, target)
    config = Config(rules=RulesConfig(paths=[target]), store=StoreConfig(path=tmp_path / "d.db"))
    runtime = RuleRuntime(config, Store(config.store.path), FakeClock(T0))
    assert runtime.evaluate(T0) == []
    assert all(r["health"] == "nodata" for g in runtime.rules_status()["groups"] for r in g["rules"])


def test_drift_statistic_gauge(tmp_path: Path) -> None:
    """A drift() rule publishes its statistic as driftmon_drift_statistic{signal, method, labels}."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "d.yaml").write_text(
        "groups:\n  - name: drift\n    rules:\n      - alert: FidelityDrift\n"
        '        expr: drift(fidelity[10m], baseline, method="ks") > 0.5\n        by: [model_version]\n'
    )
    config = Config(
        rules=RulesConfig(paths=[rules], baseline_min_samples=5), store=StoreConfig(path=tmp_path / "d.db")
    )
    runtime = RuleRuntime(config, Store(config.store.path), FakeClock(T0))
    registry = CollectorRegistry()
    runtime.register(registry)
    for index in range(10):
        runtime.record(T0 - 2000 + index, {"model_version": "v1"}, {"text_fidelity": 0.9 + index / 1000})
        runtime.record(T0 - 100 + index, {"model_version": "v2"}, {"text_fidelity": 0.6 + index / 1000})
    alerts = runtime.evaluate(T0)
    labels = {"signal": "text_fidelity", "method": "ks", "model_version": "v2"}
    assert registry.get_sample_value("driftmon_drift_statistic", labels) == 1.0
    assert [(a.labels["model_version"], a.value) for a in alerts] == [("v2", 1.0)]
