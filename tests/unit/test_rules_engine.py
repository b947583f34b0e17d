"""The alert state machine under an injected clock, and its invariants for any input (hypothesis)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.alerts import Alert
from driftmon.rules.engine import RESOLVED_RETENTION, States, evaluate_group, rule_key, step
from driftmon.rules.evaluate import Elem
from driftmon.rules.model import Group, Rule, load_rules
from driftmon.rules.window import WindowStore
from tests.support import write_rules

KEY = (("model_version", "v2"),)


def make_rule(tmp_path: Path, for_: str = "5m", keep: str = "0s", expr: str = "fidelity < 0.85") -> Rule:
    """One compiled rule by model_version with the given durations."""
    path = write_rules(
        tmp_path,
        f"""
            groups:
              - name: g
                interval: 30s
                rules:
                  - alert: Low
                    expr: {expr}
                    for: {for_}
                    keep_firing_for: {keep}
                    by: [model_version]
                    labels: {{severity: page}}
                    annotations: {{summary: 'v={{{{ $value }}}} on {{{{ $labels.model_version }}}}'}}
            """,
    )
    return load_rules([path]).rules[0]


def run(rule: Rule, truths: list[bool | None], interval: float = 30.0, hold: bool = False) -> list[States]:
    """Step the rule once per interval with the element true/false/unknown; states after each step."""
    states: States = {}
    history = []
    for index, truth in enumerate(truths):
        vector = {KEY: Elem(0.6 if truth else 0.9, truth)}
        states = step(rule, states, vector, index * interval, hold_unknown=hold)
        history.append(states)
    return history


def only(states: States) -> Alert | None:
    """The alert of the single instance in `states`, or None."""
    assert len(states) <= 1
    instance = next(iter(states.values()), None)
    return None if instance is None else instance.alert


def test_pending_then_firing_after_for(tmp_path: Path) -> None:
    """True from t=0 with for=5m: pending until 4m30s, firing at 5m with fired_at=300."""
    history = run(make_rule(tmp_path), [True] * 12)
    assert [only(s).state for s in history[:10]] == ["pending"] * 10  # type: ignore[union-attr]
    fired = only(history[10])
    assert (
        fired is not None and fired.state == "firing" and fired.active_at == 0.0 and fired.fired_at == 300.0
    )
    assert fired.labels == {"model_version": "v2", "severity": "page", "alertname": "Low"}
    assert fired.annotations == {"summary": "v=0.6 on v2"}


def test_pending_is_dropped_when_the_condition_clears(tmp_path: Path) -> None:
    """A pending alert whose condition turns false disappears without ever firing."""
    history = run(make_rule(tmp_path), [True, True, False])
    assert only(history[1]).state == "pending"  # type: ignore[union-attr]
    assert history[2] == {}


def test_for_zero_fires_on_first_true_evaluation(tmp_path: Path) -> None:
    """With for=0 an alert goes straight to firing: pending is never observed."""
    history = run(make_rule(tmp_path, for_="0s"), [True])
    assert only(history[0]).state == "firing"  # type: ignore[union-attr]


def test_resolved_is_kept_fifteen_minutes(tmp_path: Path) -> None:
    """Firing then false: inactive with resolved_at, kept 15 minutes, then forgotten."""
    rule = make_rule(tmp_path, for_="0s")
    history = run(rule, [True, False] + [False] * 31)
    resolved = only(history[1])
    assert resolved is not None and resolved.state == "inactive" and resolved.resolved_at == 30.0
    assert resolved.fired_at == 0.0
    kept = [only(s) is not None for s in history[1:]]
    assert kept.index(False) * 30.0 == RESOLVED_RETENTION


def test_keep_firing_for_holds_then_resolves(tmp_path: Path) -> None:
    """keep_firing_for=2m keeps firing 2 minutes after the condition clears, then resolves."""
    history = run(make_rule(tmp_path, for_="0s", keep="2m"), [True] + [False] * 6)
    states = [only(s).state for s in history]  # type: ignore[union-attr]
    assert states == ["firing", "firing", "firing", "firing", "firing", "inactive", "inactive"]
    assert only(history[5]).resolved_at == 150.0  # type: ignore[union-attr]


def test_true_again_during_keep_firing_keeps_starts_at(tmp_path: Path) -> None:
    """A flap inside keep_firing_for neither resolves nor changes fired_at."""
    history = run(make_rule(tmp_path, for_="0s", keep="2m"), [True, False, False, True, False])
    assert {only(s).fired_at for s in history} == {0.0}  # type: ignore[union-attr]
    assert only(history[-1]).state == "firing"  # type: ignore[union-attr]


def test_no_data_is_not_true(tmp_path: Path) -> None:
    """Unknown (no data) drops a pending alert and resolves a firing one, as an absent series does."""
    rule = make_rule(tmp_path, for_="1m")
    history = run(rule, [True, None, True, True, True])
    assert [len(s) for s in history] == [1, 0, 1, 1, 1]
    assert only(history[-1]).state == "firing" and only(history[-1]).active_at == 60.0  # type: ignore[union-attr]
    firing = run(rule, [True, True, True, None])
    assert only(firing[-1]).state == "inactive" and only(firing[-1]).resolved_at == 90.0  # type: ignore[union-attr]


def test_restore_grace_holds_unknown_but_not_false(tmp_path: Path) -> None:
    """With hold_unknown, absent or no-data keeps a firing alert; a false element still resolves it."""
    rule = make_rule(tmp_path, for_="0s")
    states = step(rule, {}, {KEY: Elem(0.6, True)}, 0.0)
    held = step(rule, states, {}, 30.0, hold_unknown=True)
    held = step(rule, held, {KEY: Elem(None, None)}, 60.0, hold_unknown=True)
    assert only(held).state == "firing" and only(held).fired_at == 0.0  # type: ignore[union-attr]
    cleared = step(rule, held, {KEY: Elem(0.9, False)}, 90.0, hold_unknown=True)
    assert only(cleared).state == "inactive"  # type: ignore[union-attr]


def test_absent_element_resolves(tmp_path: Path) -> None:
    """An element that disappears from the vector (no sample in the window) resolves the alert."""
    rule = make_rule(tmp_path, for_="0s")
    states = step(rule, {}, {KEY: Elem(0.6, True)}, 0.0)
    states = step(rule, states, {}, 30.0)
    assert only(states).state == "inactive"  # type: ignore[union-attr]


def test_resolved_then_true_starts_a_new_pending_alert(tmp_path: Path) -> None:
    """After resolution, a new incident is a new instance with a new active_at."""
    history = run(make_rule(tmp_path, for_="1m"), [True, True, True, False, True])
    assert only(history[3]).state == "inactive"  # type: ignore[union-attr]
    new = only(history[4])
    assert new is not None and new.state == "pending" and new.active_at == 120.0 and new.fired_at is None


def test_one_alert_per_label_set(tmp_path: Path) -> None:
    """Each element of a `by` rule is its own alert with its own timing."""
    rule = make_rule(tmp_path, for_="0s")
    other = (("model_version", "v3"),)
    states = step(rule, {}, {KEY: Elem(0.6, True), other: Elem(0.9, False)}, 0.0)
    states = step(rule, states, {KEY: Elem(0.6, True), other: Elem(0.7, True)}, 30.0)
    fired = sorted((a.labels["model_version"], a.fired_at) for a in (i.alert for i in states.values()))
    assert fired == [("v2", 0.0), ("v3", 30.0)]


def test_group_evaluation_isolates_a_failing_rule(tmp_path: Path) -> None:
    """A rule that raises is health "err" with its states kept; the next rule still evaluates."""
    good = make_rule(tmp_path, for_="0s")
    bad = Rule(
        **{**{f: getattr(good, f) for f in good.__dataclass_fields__}, "name": "Bad", "expr": object()}
    )  # type: ignore[arg-type]
    group = Group("g", 30.0, (bad, good), "r.yaml", 600.0)
    window = WindowStore(3600.0)
    window.record(10.0, {"model_version": "v2"}, {"text_fidelity": 0.5})
    window.compact(20.0)
    outcome = evaluate_group(group, {}, window, 20.0)
    (bad_rule, bad_result), (good_rule, good_result) = outcome.rules
    assert bad_result.health == "err" and bad_result.error and outcome.failures == 1
    assert good_result.health == "ok" and only(good_result.states).state == "firing"  # type: ignore[union-attr]
    assert rule_key(bad_rule) != rule_key(good_rule)


@functools.cache
def cached_rule(for_: str, keep: str) -> Rule:
    """make_rule, compiled once per (for, keep_firing_for) for the property test."""
    with tempfile.TemporaryDirectory() as tmp:
        return make_rule(Path(tmp), for_=for_, keep=keep)


truths = st.lists(st.one_of(st.booleans(), st.none()), min_size=1, max_size=60)
durations = st.sampled_from(["0s", "30s", "1m", "5m"])


@settings(max_examples=150, deadline=None)
@given(truths, durations, st.sampled_from(["0s", "1m"]), st.booleans())
def test_state_machine_invariants(sequence: list[bool | None], for_: str, keep: str, hold: bool) -> None:
    """For any sequence (with or without the restore grace): never firing → pending; pending only
    with for > 0; resolved only after firing; fired_at never changes while an instance lives."""
    rule = cached_rule(for_, keep)
    previous: Alert | None = None
    for states in run(rule, sequence, hold=hold):
        current = only(states)
        if current is not None:
            if current.state == "pending":
                assert rule.for_ > 0
                assert previous is None or previous.state in ("pending", "inactive")
            if current.state == "inactive":
                assert current.fired_at is not None and current.resolved_at is not None
                assert previous is not None and previous.state in ("firing", "inactive")
            if previous is not None and previous.state == "firing" and current.state != "pending":
                assert current.fired_at == previous.fired_at
        previous = current
