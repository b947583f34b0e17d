"""Expression evaluation over the window store: aggregations, grouping, logic, no data, baselines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.drift.statistics import drift_statistic
from driftmon.rules.baselines import Baselines, previous_version
from driftmon.rules.compile import Options, compile_expr
from driftmon.rules.evaluate import (
    Context,
    Elem,
    evaluate,
    kleene_and,
    kleene_or,
    order_stats,
    plan_order_stats,
)
from driftmon.rules.window import VersionInfo, WindowStore

NOW = 10_000.0
BY_VERSION = Options(default_window=600.0, by=("model_version",), min_samples=1)


def store_with(
    series: dict[tuple[tuple[str, str], ...], list[float]], signal: str = "text_fidelity"
) -> WindowStore:
    """A window store holding each label set's values one per 10 s, the last at NOW."""
    window = WindowStore(retention=86400.0)
    for labels, values in series.items():
        for index, value in enumerate(values):
            window.record(NOW - 10.0 * (len(values) - 1 - index), dict(labels), {signal: value})
    window.compact(NOW)
    return window


def value_of(
    expr: str, window: WindowStore, options: Options = BY_VERSION, baselines: Baselines | None = None
):
    """Evaluate `expr` at NOW; the vector as {labels dict items: Elem}."""
    node = compile_expr(expr, options)
    ctx = Context(window, NOW) if baselines is None else Context(window, NOW, baselines)
    return evaluate(node, ctx)


V1 = (("model_version", "v1"),)
V2 = (("model_version", "v2"),)


def test_window_bounds_are_left_open_right_closed() -> None:
    """A 1m window at NOW holds the samples with NOW-60 < ts <= NOW (6 of them at 10 s spacing)."""
    window = store_with({V1: [1.0] * 20})
    result = value_of("count(fidelity[1m]) > 0", window)
    assert result == {V1: Elem(6.0, True)}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("avg(fidelity[10m])", 0.5),
        ("min(fidelity[10m])", 0.0),
        ("max(fidelity[10m])", 1.0),
        ("sum(fidelity[10m])", 5.5),
        ("count(fidelity[10m])", 11.0),
        ("rate(fidelity[10m])", 11.0 / 600.0),
        ("p50(fidelity[10m])", 0.5),
        ("p90(fidelity[10m])", 0.9),
        ("share_below(fidelity[10m], 0.35)", 4.0 / 11.0),
    ],
)
def test_aggregations(expr: str, expected: float) -> None:
    """Each window aggregation computes what its name says over 0.0, 0.1, ..., 1.0."""
    window = store_with({V1: [i / 10 for i in range(11)]})
    result = value_of(f"{expr} > -1", window)
    assert result[V1].value == pytest.approx(expected)
    assert result[V1].cond is True


def test_by_groups_and_unlisted_labels_merge() -> None:
    """by (model_version) merges sources; by () merges everything into one element."""
    window = store_with(
        {
            (("model_version", "v1"), ("source", "push")): [0.9] * 5,
            (("model_version", "v1"), ("source", "probe")): [0.5] * 5,
            (("model_version", "v2"), ("source", "push")): [0.6] * 5,
        }
    )
    per_version = value_of("fidelity < 0.8", window)
    assert per_version[V1] == Elem(pytest.approx(0.7), True)
    assert per_version[V2] == Elem(pytest.approx(0.6), True)
    overall = value_of("fidelity < 0.8", window, Options(by=()))
    assert overall == {(): Elem(pytest.approx(2.0 / 3), True)}


def test_matchers_filter_series() -> None:
    """{source="probe"} keeps only that source; != excludes it."""
    window = store_with(
        {
            (("model_version", "v1"), ("source", "push")): [0.9] * 5,
            (("model_version", "v1"), ("source", "probe")): [0.5] * 5,
        }
    )
    assert value_of('fidelity{source="probe"} < 0.8', window)[V1].value == 0.5
    assert value_of('fidelity{source!="probe"} < 0.8', window)[V1].value == 0.9


def test_min_samples_gives_no_data() -> None:
    """Fewer samples than min_samples: value None, truth unknown — not false."""
    window = store_with({V1: [0.2] * 3})
    result = value_of("fidelity < 0.85", window, Options(by=("model_version",), min_samples=5))
    assert result == {V1: Elem(None, None)}


def test_absent_group_is_no_element() -> None:
    """A group with no sample in the window is not in the result at all."""
    window = store_with({V1: [0.2] * 3})
    assert V2 not in value_of("fidelity < 0.85", window)


def test_arithmetic_between_aggregates() -> None:
    """Arithmetic combines two aggregates of the same group."""
    window = store_with({V1: [0.2, 0.4, 0.6]})
    result = value_of("max(fidelity[10m]) - min(fidelity[10m]) > 0.3", window)
    assert result[V1] == Elem(pytest.approx(0.4), True)


def test_narrow_side_joins_every_wide_element() -> None:
    """An ungrouped aggregate matches every element of a grouped one."""
    window = store_with({V1: [0.9] * 3, V2: [0.5] * 3})
    result = value_of("avg(fidelity[10m]) by (model_version) < avg(fidelity[10m]) by ()", window)
    assert result[V1].cond is False and result[V2].cond is True


def test_and_or_unless() -> None:
    """and keeps elements true on both sides; or on either; unless drops those true on the right."""
    window = store_with({V1: [0.9] * 3, V2: [0.5] * 3})
    both = value_of("fidelity < 0.95 and fidelity > 0.7", window)
    assert both[V1].cond is True and both[V2].cond is False
    either = value_of("fidelity > 0.95 or fidelity < 0.6", window)
    assert either[V1].cond is False and either[V2].cond is True
    unless = value_of("fidelity < 0.95 unless fidelity < 0.6", window)
    assert unless[V1].cond is True and unless[V2].cond is False


def test_kleene_logic() -> None:
    """Unknown and false is false; unknown or true is true; otherwise unknown stays unknown."""
    assert kleene_and(None, False) is False and kleene_and(None, True) is None
    assert kleene_or(None, True) is True and kleene_or(None, False) is None


def swap_store() -> WindowStore:
    """v1 served 0.92 fidelity until NOW-1000 (200 samples); v2 serves 0.63 since."""
    window = WindowStore(retention=86400.0)
    rng = np.random.default_rng(7)
    for index in range(200):
        ts = NOW - 3000 + index * 10
        window.record(ts, {"model_version": "v1"}, {"text_fidelity": 0.92 + rng.normal(0, 0.01)})
    for index in range(60):
        ts = NOW - 590 + index * 10
        window.record(ts, {"model_version": "v2"}, {"text_fidelity": 0.63 + rng.normal(0, 0.01)})
    window.compact(NOW)
    return window


def test_previous_version_is_the_last_seen_before_this_one() -> None:
    """The baseline of v3 is v2 (seen last before v3 started), if v2 served enough samples."""
    versions = {
        "v1": VersionInfo(0, 100, 500),
        "v2": VersionInfo(100, 200, 500),
        "v3": VersionInfo(200, 300, 5),
    }
    assert previous_version(versions, "v3", 100) == "v2"
    assert previous_version(versions, "v3", 501) is None
    assert previous_version(versions, "v1", 1) is None


def test_delta_and_ratio_against_previous_version() -> None:
    """delta is v2's aggregate minus v1's last hour; ratio divides; v1 itself has no baseline."""
    window = swap_store()
    baselines = Baselines(window, min_samples=100, window=3600.0)
    delta = value_of("delta(avg(fidelity[10m]), baseline) < -0.1", window, baselines=baselines)
    assert delta[V2].value == pytest.approx(0.63 - 0.92, abs=0.01) and delta[V2].cond is True
    ratio = value_of("ratio(avg(fidelity[10m]), baseline) < 0.8", window, baselines=baselines)
    assert ratio[V2].value == pytest.approx(0.63 / 0.92, abs=0.02)
    assert V1 not in delta  # no v1 sample in the last 10 minutes


def test_baseline_needs_enough_samples_of_the_previous_version() -> None:
    """With baseline_min_samples above what v1 served, the comparison is no data."""
    window = swap_store()
    baselines = Baselines(window, min_samples=1000, window=3600.0)
    result = value_of("delta(avg(fidelity[10m]), baseline) < -0.1", window, baselines=baselines)
    assert result[V2] == Elem(None, None)


@pytest.mark.parametrize("method", ["ks", "psi", "wasserstein"])
def test_drift_uses_the_scipy_statistic(method: str) -> None:
    """drift() equals the drift module's statistic on the same two samples, and is recorded."""
    window = swap_store()
    baselines = Baselines(window, min_samples=100, window=3600.0)
    node = compile_expr(f'drift(fidelity[10m], baseline, method="{method}") > 0.1', BY_VERSION)
    ctx = Context(window, NOW, baselines)
    result = evaluate(node, ctx)
    current = window.select("text_fidelity", (), ("model_version",), NOW - 600, NOW)[V2]
    reference = window.select("text_fidelity", (("model_version", "=", "v1"),), ("model_version",), 0, NOW)[
        V1
    ]
    assert isinstance(result, dict)
    assert result[V2].value == pytest.approx(drift_statistic(method, current, reference))
    assert result[V2].cond is True
    gauge_labels = (("method", method), ("model_version", "v2"), ("signal", "text_fidelity"))
    assert ctx.gauges[("driftmon_drift_statistic", gauge_labels)] == result[V2].value


def test_drift_statistics_are_small_for_the_same_distribution() -> None:
    """Two samples of one distribution drift far less than a shifted one, for every method."""
    rng = np.random.default_rng(3)
    reference = rng.normal(0.92, 0.05, 2000)
    same = rng.normal(0.92, 0.05, 500)
    shifted = rng.normal(0.63, 0.1, 500)
    for method in ("ks", "psi", "wasserstein"):
        assert drift_statistic(method, same, reference) < 0.1 < drift_statistic(method, shifted, reference)


def test_out_of_order_records_are_sorted() -> None:
    """Readings recorded out of time order still select by time."""
    window = WindowStore(retention=3600.0)
    for ts in (NOW - 5, NOW - 500, NOW - 50, NOW - 700):
        window.record(ts, {"model_version": "v1"}, {"text_fidelity": ts})
    window.compact(NOW)
    values = window.select("text_fidelity", (), (), NOW - 100, NOW)[()]
    assert sorted(values.tolist()) == [NOW - 50, NOW - 5]


def test_retention_drops_old_points_and_nan_is_skipped() -> None:
    """Points older than the retention go at compaction; NaN and None values are never stored."""
    window = WindowStore(retention=100.0)
    window.record(NOW - 500, {}, {"x": 1.0})
    window.record(NOW - 10, {}, {"x": float("nan"), "y": None, "z": 2.0})
    window.compact(NOW)
    assert window.points() == 1 and window.signals() == {"x", "z"}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200))
def test_order_stats_equal_numpy_quantiles(values: list[float]) -> None:
    """min, max and the quantiles computed together equal numpy's, for any values."""
    array = np.array(values)
    stats = order_stats(array, ["min", "max", "p50", "p90", "p95", "p99"])
    assert stats["min"] == array.min() and stats["max"] == array.max()
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)):
        assert stats[name] == pytest.approx(float(np.quantile(array, q)), rel=1e-9, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.floats(0, 1000), st.floats(0, 1)), max_size=40),
        min_size=1,
        max_size=12,
    ),
    st.floats(0, 500),
)
def test_window_store_matches_a_plain_list(
    batches: list[list[tuple[float, float]]], retention: float
) -> None:
    """After any sequence of appends (in or out of order) and compactions, a window holds exactly
    the points a plain list filtered by time would."""
    window = WindowStore(retention=retention)
    kept: list[tuple[float, float]] = []
    now = 0.0
    for batch in batches:
        for ts, value in batch:
            window.record(ts, {"a": "1"}, {"x": value})
            kept.append((ts, value))
        now += 100.0
        window.compact(now)
        kept = [(t, v) for t, v in kept if t >= now - retention]
        got = window.select("x", (), (), now - retention - 1, now + 1000).get((), np.empty(0))
        assert sorted(got.tolist()) == sorted(v for _, v in kept)


def test_planned_order_stats_equal_unplanned() -> None:
    """Evaluating with the quantile plan gives the same vectors as without it."""
    window = store_with({V1: [i / 37 % 1 for i in range(200)], V2: [0.5, 0.7, 0.2]})
    exprs = ["p95(fidelity[1h]) > 0", "min(fidelity[1h]) > -1", "p50(fidelity[1h]) > 0"]
    nodes = [compile_expr(e, BY_VERSION) for e in exprs]
    plan = plan_order_stats(nodes)
    shared = Context(window, NOW, plan=plan)
    for node in nodes:
        assert evaluate(node, shared) == evaluate(node, Context(window, NOW))
