"""Evaluate a compiled expression against a window view at one instant (pure given its inputs).

A vector maps each element's labels to an `Elem`: its value (None = "no data": fewer samples than
`min_samples`, or no baseline) and, for conditions, its truth (True, False, or None = unknown).
Logic is three-valued (Kleene): ``unknown and false`` is false, ``unknown or true`` is true.
An element with no sample at all in its window is absent from the vector, as in PromQL.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from driftmon.drift.statistics import drift_statistic
from driftmon.durations import format_duration
from driftmon.rules.compile import QUANTILES, Agg, BaselineAgg, BinOp, Compiled, Drift, Negate, Scalar, walk
from driftmon.rules.window import Array, LabelKey, Matchers, label_key

ORDER_STATS = frozenset({"min", "max", *QUANTILES})


@dataclass(frozen=True, slots=True)
class Elem:
    """One element's value and truth (None for either means unknown)."""

    value: float | None
    cond: bool | None = None


Vector = dict[LabelKey, Elem]


class WindowView(Protocol):
    """What the evaluator reads: grouped values of a signal in ``(start, end]``."""

    def select(
        self, signal: str, matchers: Matchers, by: tuple[str, ...], start: float, end: float
    ) -> dict[LabelKey, Array]:
        """Values of `signal` matching `matchers` with ``start < ts <= end``, grouped by `by`."""
        ...


@dataclass(frozen=True, slots=True)
class Reference:
    """Where a baseline's samples are: a view, the baseline's model version and its time span."""

    view: WindowView
    model_version: str
    start: float
    end: float
    kind: str  # "pinned" or "previous"


class BaselineSource(Protocol):
    """Finds the baseline for a model version at time `now` (None: no baseline yet)."""

    def reference(self, model_version: str, now: float) -> Reference | None:
        """The baseline of `model_version` at `now`, or None."""
        ...


class NoBaselines:
    """A baseline source that never has one."""

    def reference(self, model_version: str, now: float) -> Reference | None:
        """Never a baseline."""
        return None


@dataclass
class Context:
    """One evaluation: the data, the baselines and the instant; caches aggregates across rules."""

    view: WindowView
    now: float
    baselines: BaselineSource = field(default_factory=NoBaselines)
    cache: dict[tuple[object, ...], Vector] = field(default_factory=dict)
    #: order statistics used per selection (see `plan_order_stats`): computed together
    plan: Mapping[tuple[object, ...], frozenset[str]] = field(default_factory=dict)
    #: gauges this evaluation computed for export: (metric name, all its labels) → value;
    #: drift() → driftmon_drift_statistic, ratio()/delta() → driftmon_baseline_comparison
    gauges: dict[tuple[str, LabelKey], float] = field(default_factory=dict)


def aggregate(func: str, values: Array, window: float, param: float | None) -> float:
    """One window aggregation over a non-empty array."""
    if func == "avg":
        return float(values.mean())
    if func == "min":
        return float(values.min())
    if func == "max":
        return float(values.max())
    if func == "sum":
        return float(values.sum())
    if func == "count":
        return float(len(values))
    if func == "rate":
        return len(values) / window
    if func == "share_below":
        assert param is not None
        return float(np.count_nonzero(values < param)) / len(values)
    return float(np.quantile(values, QUANTILES[func]))


def evaluate(node: Compiled, ctx: Context) -> Vector | float:
    """The value of `node` at `ctx.now`: a vector, or a float for number-only subtrees."""
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, Agg):
        return _agg(node, ctx)
    if isinstance(node, BaselineAgg):
        return _baseline(node, ctx)
    if isinstance(node, Drift):
        return _drift(node, ctx)
    if isinstance(node, Negate):
        return _map(evaluate(node.operand, ctx), operator.neg)
    return _binary(node, ctx)


def _agg_key(node: Agg) -> tuple[object, ...]:
    return (node.func, node.signal, node.matchers, node.window, node.labels, node.param, node.min_samples)


def _selection(node: Agg) -> tuple[object, ...]:
    return (node.signal, node.matchers, node.window, node.labels)


def plan_order_stats(exprs: Iterable[Compiled]) -> dict[tuple[object, ...], frozenset[str]]:
    """For each selection (signal, matchers, window, labels), the order statistics rules use.

    Computing them together costs one partition of each group's values instead of one per rule.
    """
    plan: dict[tuple[object, ...], set[str]] = {}
    for expr in exprs:
        for node in walk(expr):
            if isinstance(node, Agg) and node.func in ORDER_STATS:
                plan.setdefault(_selection(node), set()).add(node.func)
    return {key: frozenset(funcs) for key, funcs in plan.items()}


def order_stats(values: Array, funcs: Iterable[str]) -> dict[str, float]:
    """min, max and quantiles (numpy's "linear" method) of non-empty `values` in one partition."""
    n = len(values)
    wanted = set(funcs)
    positions = {f: (n - 1) * QUANTILES[f] for f in wanted if f in QUANTILES}
    kth = {math.floor(p) for p in positions.values()} | {math.ceil(p) for p in positions.values()}
    kth |= {0} if "min" in wanted else set()
    kth |= {n - 1} if "max" in wanted else set()
    part = np.partition(values, sorted(kth))
    out = {f: float(part[0] if f == "min" else part[n - 1]) for f in wanted & {"min", "max"}}
    for func, pos in positions.items():
        lo, hi = float(part[math.floor(pos)]), float(part[math.ceil(pos)])
        out[func] = lo + (hi - lo) * (pos - math.floor(pos))
    return out


def _agg(node: Agg, ctx: Context) -> Vector:
    key = _agg_key(node)
    cached = ctx.cache.get(key)
    if cached is None:
        groups = ctx.view.select(node.signal, node.matchers, node.labels, ctx.now - node.window, ctx.now)
        siblings = ctx.plan.get(_selection(node)) if node.func in ORDER_STATS else None
        if siblings and node.func in siblings:
            _agg_order_stats(node, groups, siblings, ctx)
            return ctx.cache[key]
        cached = {labels: _agg_elem(node, values) for labels, values in groups.items()}
        ctx.cache[key] = cached
    return cached


def _agg_order_stats(
    node: Agg, groups: Mapping[LabelKey, Array], funcs: frozenset[str], ctx: Context
) -> None:
    """Fill the cache for every order statistic of this selection at once."""
    vectors: dict[str, Vector] = {func: {} for func in funcs}
    for labels, values in groups.items():
        if len(values) < max(node.min_samples, 1):
            for func in funcs:
                vectors[func][labels] = Elem(None)
            continue
        for func, value in order_stats(values, funcs).items():
            vectors[func][labels] = Elem(value)
    for func, vector in vectors.items():
        ctx.cache[_agg_key(replace(node, func=func))] = vector


def _agg_elem(node: Agg, values: Array) -> Elem:
    if len(values) < node.min_samples:
        return Elem(None)
    return Elem(aggregate(node.func, values, node.window, node.param))


def _reference_values(node: Agg, labels: LabelKey, ctx: Context) -> Array | None:
    """The baseline's values for the element `labels` (None when there is no baseline)."""
    version = dict(labels).get("model_version", "")
    ref = ctx.baselines.reference(version, ctx.now)
    if ref is None:
        return None
    matchers = (*node.matchers, ("model_version", "=", ref.model_version))
    groups = ref.view.select(node.signal, matchers, node.labels, ref.start, ref.end)
    wanted = tuple((k, ref.model_version if k == "model_version" else v) for k, v in labels)
    values = groups.get(wanted)
    if values is None or len(values) < max(node.min_samples, 1):
        return None
    return values


def _baseline(node: BaselineAgg, ctx: Context) -> Vector:
    current = _agg(node.agg, ctx)
    out: Vector = {}
    for labels, elem in current.items():
        reference = _reference_values(node.agg, labels, ctx)
        if elem.value is None or reference is None:
            out[labels] = Elem(None)
            continue
        base = aggregate(node.agg.func, reference, node.agg.window, node.agg.param)
        value = elem.value - base if node.kind == "delta" else (elem.value / base if base != 0 else None)
        out[labels] = Elem(value)
        if value is not None:
            ctx.gauges[(BASELINE_GAUGE, baseline_gauge_labels(node, labels))] = value
    return out


DRIFT_GAUGE = "driftmon_drift_statistic"
BASELINE_GAUGE = "driftmon_baseline_comparison"


def drift_gauge_labels(node: Drift, labels: LabelKey) -> LabelKey:
    """driftmon_drift_statistic's labels for one element: signal, method and the element's."""
    return label_key({**dict(labels), "signal": node.agg.signal, "method": node.method})


def baseline_gauge_labels(node: BaselineAgg, labels: LabelKey) -> LabelKey:
    """driftmon_baseline_comparison's labels: comparison, aggregate, signal, window, element's."""
    identity = {
        "comparison": node.kind,
        "aggregate": node.agg.func,
        "signal": node.agg.signal,
        "window": format_duration(node.agg.window),
    }
    return label_key({**dict(labels), **identity})


def _drift(node: Drift, ctx: Context) -> Vector:
    agg = node.agg
    groups = ctx.view.select(agg.signal, agg.matchers, agg.labels, ctx.now - agg.window, ctx.now)
    out: Vector = {}
    for labels, values in groups.items():
        reference = _reference_values(agg, labels, ctx)
        if reference is None or len(values) < max(agg.min_samples, 1):
            out[labels] = Elem(None)
        else:
            statistic = drift_statistic(node.method, _thin(values), _thin(reference))
            ctx.gauges[(DRIFT_GAUGE, drift_gauge_labels(node, labels))] = statistic
            out[labels] = Elem(statistic)
    return out


#: drift tests run on at most this many values per side (evenly strided over the window), as
#: monitoring tools do (Evidently's KS uses ≤ 1,000 rows): beyond it tests flag trivial shifts and
#: cost grows with n log n
DRIFT_MAX_VALUES = 5000


def _thin(values: Array) -> Array:
    step = -(-len(values) // DRIFT_MAX_VALUES)
    return values[::step] if step > 1 else values


def _map(value: Vector | float, fn: Callable[[float], float]) -> Vector | float:
    if isinstance(value, float):
        return fn(value)
    return {k: Elem(None if e.value is None else fn(e.value)) for k, e in value.items()}


_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": lambda a, b: a / b if b != 0 else math.nan,
}
_CMP: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _pairs(
    left: Vector | float, right: Vector | float, labels: tuple[str, ...] | None
) -> Iterator[tuple[LabelKey, Elem | None, Elem | None]]:
    """Matched elements: the side carrying the result's labels drives; the other is looked up."""
    if isinstance(left, float):
        assert not isinstance(right, float)
        for key, elem in right.items():
            yield key, Elem(left), elem
        return
    if isinstance(right, float):
        for key, elem in left.items():
            yield key, elem, Elem(right)
        return
    wide_is_left = _names(left, labels)
    wide, narrow = (left, right) if wide_is_left else (right, left)
    names = _narrow_names(narrow)
    for key, elem in wide.items():
        other = narrow.get(tuple(p for p in key if p[0] in names)) if names is not None else None
        yield (key, elem, other) if wide_is_left else (key, other, elem)


def _names(left: Vector, labels: tuple[str, ...] | None) -> bool:
    if not left or labels is None:
        return True
    first = next(iter(left))
    return {k for k, _ in first} == set(labels)


def _narrow_names(vector: Vector) -> set[str] | None:
    if not vector:
        return None
    return {k for k, _ in next(iter(vector))}


def _binary(node: BinOp, ctx: Context) -> Vector | float:
    left, right = evaluate(node.left, ctx), evaluate(node.right, ctx)
    if isinstance(left, float) and isinstance(right, float):
        if node.op in _ARITH:
            return _ARITH[node.op](left, right)
        raise ValueError(f"'{node.op}' between two numbers has no elements")
    if node.op in ("and", "or", "unless"):
        return _logical(node.op, left, right, node.labels)
    out: Vector = {}
    vector_left = not isinstance(left, float)
    for key, le, re in _pairs(left, right, node.labels):
        if le is None or re is None:
            continue
        if node.op in _CMP:
            out[key] = _compare(node.op, le, re, vector_left)
        else:
            out[key] = _arith(node.op, le, re)
    return out


def _compare(op: str, le: Elem, re: Elem, vector_left: bool) -> Elem:
    value = le.value if vector_left else re.value
    if le.value is None or re.value is None:
        return Elem(value, None)
    return Elem(value, _CMP[op](le.value, re.value))


def _arith(op: str, le: Elem, re: Elem) -> Elem:
    if le.value is None or re.value is None:
        return Elem(None)
    result = _ARITH[op](le.value, re.value)
    return Elem(None if math.isnan(result) else result)


def kleene_and(a: bool | None, b: bool | None) -> bool | None:
    """Three-valued and: false wins, then unknown."""
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def kleene_or(a: bool | None, b: bool | None) -> bool | None:
    """Three-valued or: true wins, then unknown."""
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _logical(op: str, left: Vector | float, right: Vector | float, labels: tuple[str, ...] | None) -> Vector:
    out: Vector = {}
    for key, le, re in _pairs(left, right, labels):
        if op == "and":
            if le is not None and re is not None:
                out[key] = Elem(le.value, kleene_and(le.cond, re.cond))
        elif op == "unless":
            if le is not None:
                out[key] = le if re is None else Elem(le.value, kleene_and(le.cond, _not(re.cond)))
        elif le is None or re is None:
            only = le if le is not None else re
            if only is not None:
                out[key] = only
        else:
            cond = kleene_or(le.cond, re.cond)
            out[key] = Elem(le.value if le.cond or not re.cond else re.value, cond)
    if op == "or":
        for side in (left, right):
            for key, elem in side.items() if isinstance(side, dict) else ():
                if labels is None or {k for k, _ in key} == set(labels):
                    out.setdefault(key, elem)
    return out


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value
