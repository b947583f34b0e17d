"""The pure core: (compiled rules, window view, baselines, previous states, now) → alert states.

Prometheus's state machine (``rules/alerting.go``), per alert instance (rule × label set):

    condition true, new           → pending (active_at = now); → firing at once when for = 0
    pending, true for ≥ `for`     → firing (fired_at = now, Alertmanager's startsAt)
    pending, not true             → dropped (pending is never sent)
    firing, not true              → kept firing for `keep_firing_for`, then inactive (resolved_at)
    resolved (inactive)           → kept for 15 minutes so delivery can re-send the resolution
    resolved, true again          → a new pending instance (never firing → pending)

"No data" (fewer than `min_samples` samples in a window, or no baseline yet) is neither true nor
false for the expression's logic (``unknown and false`` is false) and shows in the rule's health;
for the state machine it is, like an absent element in Prometheus, *not true*: an alert needs
evidence to stay active (use `keep_firing_for` to ride out sparse data). This is also what the
exported Prometheus rule does, where `min_samples` becomes an ``and count >= N`` guard.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from driftmon.alerts import Alert, fingerprint
from driftmon.rules.evaluate import BaselineSource, Context, NoBaselines, Vector, WindowView, evaluate
from driftmon.rules.model import Group, Rule
from driftmon.rules.window import LabelKey

#: how long a resolved alert is kept (and re-sent) before it is forgotten
RESOLVED_RETENTION = 15 * 60.0

Health = Literal["ok", "nodata", "err", "unknown"]


@dataclass(frozen=True, slots=True)
class Instance:
    """One alert instance's state between evaluations: the `Alert` handed to delivery, and since
    when a firing instance is only held by `keep_firing_for`."""

    alert: Alert
    keep_firing_since: float | None = None

    def update(self, keep_firing_since: float | None = None, **alert: Any) -> Instance:
        """This instance with `alert`'s fields replaced and `keep_firing_since` set."""
        return Instance(replace(self.alert, **alert), keep_firing_since)


States = dict[str, Instance]


def alert_labels(rule: Rule, key: LabelKey) -> dict[str, str]:
    """An instance's labels: the element's labels, then the rule's labels, then alertname."""
    return {**dict(key), **rule.labels, "alertname": rule.name}


def render_annotations(rule: Rule, key: LabelKey, value: float | None) -> dict[str, str]:
    """The rule's annotation templates expanded for one element ($labels are the element's)."""
    labels = dict(key)
    return {name: template.render(labels, value) for name, template in rule.annotations.items()}


def step(
    rule: Rule, previous: Mapping[str, Instance], vector: Vector, now: float, hold_unknown: bool = False
) -> States:
    """Advance one rule's instances given its expression's value at `now`.

    With `hold_unknown` (the restore grace after a restart, while windows refill) an active
    instance whose element is absent or has no data keeps its state; only a false one clears.
    """
    true_now: dict[str, tuple[LabelKey, float | None]] = {}
    false_now: set[str] = set()
    for key, elem in vector.items():
        fp = fingerprint(alert_labels(rule, key))
        if elem.cond is True:
            true_now[fp] = (key, elem.value)
        elif elem.cond is False:
            false_now.add(fp)
    states: States = {}
    for fp, (key, value) in true_now.items():
        states[fp] = _activate(rule, previous.get(fp), key, value, now)
    for fp, prev in previous.items():
        if fp in true_now:
            continue
        if hold_unknown and fp not in false_now and prev.alert.state != "inactive":
            states[fp] = prev.update(prev.keep_firing_since, last_evaluated_at=now)
            continue
        kept = _deactivate(rule, prev, now)
        if kept is not None:
            states[fp] = kept
    return states


def _activate(rule: Rule, prev: Instance | None, key: LabelKey, value: float | None, now: float) -> Instance:
    annotations = render_annotations(rule, key, value)
    if prev is not None and prev.alert.state != "inactive":
        inst = prev.update(value=value, annotations=annotations, last_evaluated_at=now)
    else:
        labels = alert_labels(rule, key)
        inst = Instance(Alert(labels, annotations, "pending", now, value=value, last_evaluated_at=now))
    if inst.alert.state == "pending" and now - inst.alert.active_at >= rule.for_:
        inst = inst.update(state="firing", fired_at=now)
    return inst


def _deactivate(rule: Rule, prev: Instance, now: float) -> Instance | None:
    alert = prev.alert
    if alert.state == "inactive":
        resolved = alert.resolved_at if alert.resolved_at is not None else now
        return prev if now - resolved < RESOLVED_RETENTION else None
    if alert.state == "pending":
        return None
    since = prev.keep_firing_since if prev.keep_firing_since is not None else now
    if rule.keep_firing_for > 0 and now - since < rule.keep_firing_for:
        return prev.update(since, last_evaluated_at=now)
    return prev.update(state="inactive", resolved_at=now, last_evaluated_at=now)


def health_of(vector: Vector) -> Health:
    """ "ok" when some element is true or false; "nodata" when none is (or there is none)."""
    return "ok" if any(e.cond is not None for e in vector.values()) else "nodata"


@dataclass
class RuleOutcome:
    """One rule's evaluation: its new states, health, error and duration."""

    states: States
    health: Health
    error: str | None = None
    duration: float = 0.0
    nodata: int = 0


@dataclass
class GroupOutcome:
    """One group's evaluation: outcomes by rule name (in order) and the total duration."""

    rules: list[tuple[Rule, RuleOutcome]] = field(default_factory=list)
    duration: float = 0.0
    failures: int = 0
    #: gauges computed for export (see `Context.gauges`)
    gauges: dict[tuple[str, LabelKey], float] = field(default_factory=dict)


def evaluate_rule(
    rule: Rule, previous: Mapping[str, Instance], ctx: Context, hold_unknown: bool = False
) -> RuleOutcome:
    """Evaluate one rule; an exception leaves its states as they were and sets health "err"."""
    clock = time.perf_counter
    started = clock()
    try:
        value = evaluate(rule.expr, ctx)
        vector = value if isinstance(value, dict) else {}
        states = step(rule, previous, vector, ctx.now, hold_unknown)
        nodata = sum(1 for e in vector.values() if e.cond is None)
        return RuleOutcome(states, health_of(vector), None, clock() - started, nodata)
    except Exception as exc:  # a broken rule must never stop the others
        return RuleOutcome(dict(previous), "err", f"{type(exc).__name__}: {exc}", clock() - started)


def evaluate_group(
    group: Group,
    states: Mapping[str, States],
    view: WindowView,
    now: float,
    baselines: BaselineSource | None = None,
    cache: dict[tuple[object, ...], Vector] | None = None,
    plan: Mapping[tuple[object, ...], frozenset[str]] | None = None,
    hold_until: Mapping[str, float] | None = None,
) -> GroupOutcome:
    """Evaluate every rule of `group` at `now`; `states` maps rule name → its previous states.

    Pass one `cache` to all groups evaluated at the same instant to share aggregates between
    them, and the ruleset's `plan_order_stats` as `plan` to compute quantiles together.
    `hold_until` maps rule keys to the end of their restore grace (see `step`).
    """
    ctx = Context(view, now, baselines or NoBaselines(), {} if cache is None else cache, plan or {})
    outcome = GroupOutcome()
    started = time.perf_counter()
    for rule in group.rules:
        key = rule_key(rule)
        hold = hold_until is not None and now < hold_until.get(key, float("-inf"))
        result = evaluate_rule(rule, states.get(key, {}), ctx, hold)
        outcome.rules.append((rule, result))
        outcome.failures += result.health == "err"
    outcome.duration = time.perf_counter() - started
    outcome.gauges = ctx.gauges
    return outcome


def rule_key(rule: Rule) -> str:
    """A rule's identity for state keeping: group, alert name and ordinal among same names."""
    return f"{rule.group}/{rule.name}/{rule.ordinal}"
