"""Give a parsed expression its meaning: typed nodes with their grouping labels, checked once.

A compiled expression is a tree of `Agg`, `BaselineAgg`, `Drift`, `Scalar`, `Negate` and `BinOp`.
Every vector node knows, before any data arrives, which labels its elements carry (`labels`), so
matching between the two sides of an operator is decided here and a mismatch is a check error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from driftmon.errors import ExprSyntaxError
from driftmon.rules.expr import (
    COMPARISONS,
    LOGICAL,
    Binary,
    Call,
    Neg,
    Node,
    Number,
    Selector,
    String,
    parse,
)
from driftmon.signals import ALIASES, RULE_SIGNALS

#: signals written by driftmon itself (driftmon.signals, aliases included); rules may use these
#: and `rules.extra_signals` from config
KNOWN_SIGNALS = RULE_SIGNALS

QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
#: window aggregations: name → number of extra numeric arguments
AGGREGATIONS = {"avg": 0, "min": 0, "max": 0, "sum": 0, "count": 0, "rate": 0, "share_below": 1}
AGGREGATIONS.update(dict.fromkeys(QUANTILES, 0))
#: aggregations that always have a value (no min_samples guard)
UNGUARDED = frozenset({"count", "rate"})
BASELINE_FUNCS = frozenset({"ratio", "delta"})
DRIFT_METHODS = ("ks", "psi", "wasserstein")
FUNCTIONS = frozenset({*AGGREGATIONS, *BASELINE_FUNCS, "drift"})


@dataclass(frozen=True, slots=True)
class Agg:
    """An aggregation of one signal over a window, one element per `labels` value set."""

    func: str
    signal: str
    matchers: tuple[tuple[str, str, str], ...]
    window: float
    labels: tuple[str, ...]
    param: float | None
    min_samples: int
    pos: int
    boolean = False


class _OverAgg:
    """A node over one aggregation: its elements carry the aggregation's labels; not a condition."""

    __slots__ = ()
    agg: Agg
    boolean = False

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels of the result's elements (those of the wrapped aggregation)."""
        return self.agg.labels


@dataclass(frozen=True, slots=True)
class BaselineAgg(_OverAgg):
    """`ratio(agg, baseline)` or `delta(agg, baseline)`: the aggregate against the baseline's."""

    kind: str
    agg: Agg
    pos: int


@dataclass(frozen=True, slots=True)
class Drift(_OverAgg):
    """`drift(signal[w], baseline, method=...)`: a two-sample drift statistic per element."""

    method: str
    agg: Agg  # func "avg" unused; carries signal, matchers, window, labels, min_samples
    pos: int


@dataclass(frozen=True, slots=True)
class Scalar:
    """A number."""

    value: float
    pos: int
    labels = None
    boolean = False


@dataclass(frozen=True, slots=True)
class Negate:
    """Unary minus of a numeric node."""

    operand: Compiled
    pos: int
    boolean = False

    @property
    def labels(self) -> tuple[str, ...] | None:
        """The operand's labels."""
        return self.operand.labels


@dataclass(frozen=True, slots=True)
class BinOp:
    """A binary operation; `labels` is the label set of its result's elements."""

    op: str
    left: Compiled
    right: Compiled
    labels: tuple[str, ...] | None
    pos: int

    @property
    def boolean(self) -> bool:
        """Whether the result is a condition (comparison or logic)."""
        return self.op in COMPARISONS or self.op in LOGICAL


Compiled = Agg | BaselineAgg | Drift | Scalar | Negate | BinOp


@dataclass(frozen=True, slots=True)
class Options:
    """What an expression inherits from its rule and group."""

    default_window: float = 600.0
    by: tuple[str, ...] = ()
    min_samples: int = 1
    known_signals: frozenset[str] = KNOWN_SIGNALS


def compile_expr(text: str, options: Options = Options()) -> Compiled:
    """Parse and check `text`; the result is a boolean node whose elements are alert candidates.

    Raises ExprSyntaxError (with the offset of the problem) for any syntax or meaning error.
    """
    node = _Compiler(options).node(parse(text))
    if not node.boolean:
        raise ExprSyntaxError(0, "an alert expression must be a condition (a comparison, and/or/unless)")
    if node.labels is None:
        raise ExprSyntaxError(0, "the expression compares only numbers; it must use a signal")
    return node


def walk(node: Compiled) -> Iterable[Compiled]:
    """Every node of a compiled tree, parents first."""
    yield node
    if isinstance(node, BinOp):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, Negate):
        yield from walk(node.operand)
    elif isinstance(node, BaselineAgg | Drift):
        yield node.agg


def max_window(node: Compiled) -> float:
    """The longest window any aggregation in `node` reads (0 when none)."""
    return max((n.window for n in walk(node) if isinstance(n, Agg)), default=0.0)


class _Compiler:
    def __init__(self, options: Options) -> None:
        self.options = options

    def node(self, node: Node, by: tuple[str, ...] | None = None) -> Compiled:
        if isinstance(node, Number):
            return Scalar(node.value, node.pos)
        if isinstance(node, String):
            raise ExprSyntaxError(node.pos, 'a string is only allowed as a keyword argument (method="ks")')
        if isinstance(node, Selector):
            return self.aggregate("avg", node, None, by, node.pos)
        if isinstance(node, Neg):
            operand = self.numeric(self.node(node.operand), node.pos, "-")
            return Negate(operand, node.pos)
        if isinstance(node, Binary):
            return self.binary(node)
        return self.call(node, by)

    def numeric(self, node: Compiled, pos: int, op: str) -> Compiled:
        if node.boolean:
            raise ExprSyntaxError(
                pos, f"'{op}' needs numbers, but its operand is a condition; use and/or/unless"
            )
        return node

    def binary(self, node: Binary) -> BinOp:
        left, right = self.node(node.left), self.node(node.right)
        if node.op in LOGICAL:
            for side, pos in ((left, _pos(node.left)), (right, _pos(node.right))):
                if not side.boolean:
                    raise ExprSyntaxError(pos, f"both sides of '{node.op}' must be conditions (comparisons)")
        else:
            self.numeric(left, node.pos, node.op)
            self.numeric(right, node.pos, node.op)
        return BinOp(
            node.op, left, right, _join_labels(left.labels, right.labels, node.pos, node.op), node.pos
        )

    def call(self, node: Call, inherited: tuple[str, ...] | None = None) -> Compiled:
        if node.func not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExprSyntaxError(node.pos, f"unknown function {node.func}(); known: {known}")
        if node.func in BASELINE_FUNCS:
            return self.baseline_call(node, inherited)
        if node.func == "drift":
            return self.drift_call(node, inherited)
        self.no_kwargs(node)
        extra = AGGREGATIONS[node.func]
        if len(node.args) != 1 + extra:
            shape = "(signal[window], threshold)" if extra else "(signal[window])"
            raise ExprSyntaxError(
                node.pos, f"{node.func}() takes {1 + extra} argument(s): {node.func}{shape}"
            )
        selector = self.selector_arg(node, node.args[0])
        param = None
        if extra:
            threshold = node.args[1]
            if not isinstance(threshold, Number):
                raise ExprSyntaxError(_pos(threshold), f"{node.func}()'s threshold must be a number")
            param = threshold.value
        by = node.by if node.by is not None else inherited
        return self.aggregate(node.func, selector, param, by, node.pos)

    def baseline_call(self, node: Call, inherited: tuple[str, ...] | None) -> BaselineAgg:
        self.no_kwargs(node)
        if len(node.args) != 2:
            raise ExprSyntaxError(
                node.pos, f"{node.func}() takes 2 arguments: {node.func}(p95(signal[15m]), baseline)"
            )
        self.baseline_arg(node, node.args[1])
        inner = self.node(node.args[0], node.by if node.by is not None else inherited)
        if not isinstance(inner, Agg) or inner.func in UNGUARDED:
            raise ExprSyntaxError(
                _pos(node.args[0]),
                f"{node.func}()'s first argument must be an aggregation such as avg(fidelity[30m])",
            )
        self.needs_model_version(inner, node)
        return BaselineAgg(node.func, inner, node.pos)

    def drift_call(self, node: Call, inherited: tuple[str, ...] | None) -> Drift:
        if len(node.args) != 2:
            raise ExprSyntaxError(
                node.pos, 'drift() takes 2 arguments: drift(signal[1h], baseline, method="ks")'
            )
        selector = self.selector_arg(node, node.args[0])
        self.baseline_arg(node, node.args[1])
        method = "ks"
        for name, value in node.kwargs:
            if name != "method":
                raise ExprSyntaxError(_pos(value), f"drift() has no argument {name}=; it takes method=")
            if not isinstance(value, String) or value.value not in DRIFT_METHODS:
                raise ExprSyntaxError(
                    _pos(value), f"method must be one of {', '.join(repr(m) for m in DRIFT_METHODS)}"
                )
            method = value.value
        by = node.by if node.by is not None else inherited
        agg = self.aggregate("avg", selector, None, by, node.pos)
        self.needs_model_version(agg, node)
        return Drift(method, agg, node.pos)

    def no_kwargs(self, node: Call) -> None:
        if node.kwargs:
            name, value = node.kwargs[0]
            raise ExprSyntaxError(_pos(value), f"{node.func}() takes no keyword argument {name}=")

    def selector_arg(self, call: Call, arg: Node) -> Selector:
        if not isinstance(arg, Selector) or arg.signal == "baseline":
            raise ExprSyntaxError(
                _pos(arg), f"{call.func}()'s first argument must be a signal such as fidelity[10m]"
            )
        return arg

    def baseline_arg(self, call: Call, arg: Node) -> None:
        if not (
            isinstance(arg, Selector) and arg.signal == "baseline" and not arg.matchers and arg.window is None
        ):
            raise ExprSyntaxError(_pos(arg), f"{call.func}()'s second argument must be the word baseline")

    def needs_model_version(self, agg: Agg, call: Call) -> None:
        if "model_version" not in agg.labels:
            raise ExprSyntaxError(
                call.pos,
                f"{call.func}() compares model versions: group by model_version (by: [model_version])",
            )

    def aggregate(
        self, func: str, selector: Selector, param: float | None, by: tuple[str, ...] | None, pos: int
    ) -> Agg:
        if selector.signal == "baseline":
            raise ExprSyntaxError(
                selector.pos, "baseline is only allowed inside ratio(), delta() and drift()"
            )
        if selector.signal in FUNCTIONS:
            raise ExprSyntaxError(
                selector.pos, f"{selector.signal} is a function: write {selector.signal}(signal[10m])"
            )
        if selector.signal not in self.options.known_signals:
            raise ExprSyntaxError(
                selector.pos,
                f"unknown signal {selector.signal!r}; known: {', '.join(sorted(self.options.known_signals))}"
                " (declare others in rules.extra_signals)",
            )
        labels = tuple(self.options.by if by is None else by)
        matchers = tuple((m.label, m.op, m.value) for m in selector.matchers)
        window = self.options.default_window if selector.window is None else selector.window
        signal = ALIASES.get(selector.signal, selector.signal)
        min_samples = 0 if func in UNGUARDED else self.options.min_samples
        return Agg(func, signal, matchers, window, labels, param, min_samples, pos)


def _join_labels(
    left: tuple[str, ...] | None, right: tuple[str, ...] | None, pos: int, op: str
) -> tuple[str, ...] | None:
    """The labels of a binary result: both sides must share labels, or one side's are a subset."""
    if left is None:
        return right
    if right is None:
        return left
    if set(left) <= set(right):
        return right
    if set(right) <= set(left):
        return left
    raise ExprSyntaxError(
        pos,
        f"cannot match by ({', '.join(left)}) with by ({', '.join(right)}) in '{op}': group both sides alike",
    )


def _pos(node: Node) -> int:
    return node.pos
