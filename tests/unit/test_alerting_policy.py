"""What to send when: Prometheus's resend rules for Alertmanager, transitions once elsewhere."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from driftmon.alerting.policy import Timing, decide
from driftmon.alerts import Alert
from driftmon.store.outbox import SentState

LABELS = {"alertname": "TextFidelityLow", "model_version": "v2"}
TIMING = Timing(resend_delay=60.0, evaluation_interval=30.0, resolved_retention=900.0)


def firing(fired_at: float = 100.0) -> Alert:
    """A firing alert that started at `fired_at`."""
    return Alert(LABELS, {}, "firing", active_at=fired_at - 300, fired_at=fired_at, value=0.63)


def resolved(fired_at: float = 100.0, resolved_at: float = 500.0) -> Alert:
    """The same alert resolved at `resolved_at`."""
    return Alert(LABELS, {}, "inactive", fired_at - 300, fired_at, resolved_at, 0.91)


def test_pending_alerts_are_never_sent() -> None:
    """A pending alert yields nothing for either kind of receiver."""
    pending = Alert(LABELS, {}, "pending", active_at=10.0)
    assert decide(pending, None, True, 20.0, TIMING) is None
    assert decide(pending, None, False, 20.0, TIMING) is None


def test_valid_for_is_four_times_the_longer_interval() -> None:
    """endsAt horizon = 4 × max(evaluation interval, resend delay)."""
    assert Timing(60.0, 30.0).valid_for == 240.0
    assert Timing(60.0, 120.0).valid_for == 480.0


def test_alertmanager_resends_firing_every_resend_delay() -> None:
    """Sent at once, not again before resend_delay has passed, then again."""
    alert = firing()
    assert decide(alert, None, True, 100.0, TIMING) == "firing"
    sent = SentState("firing", 100.0, queued_at=100.0)
    assert decide(alert, sent, True, 159.0, TIMING) is None
    assert decide(alert, sent, True, 160.0, TIMING) == "firing"


def test_alertmanager_sends_a_new_incident_at_once() -> None:
    """A new startsAt is a new alert for Alertmanager: no waiting for the resend delay."""
    sent = SentState("firing", 100.0, queued_at=100.0)
    assert decide(firing(fired_at=120.0), sent, True, 121.0, TIMING) == "firing"


def test_alertmanager_resends_resolution_for_its_retention() -> None:
    """Resolved: sent at once, re-sent every resend_delay, not after 15 minutes."""
    sent = SentState("firing", 100.0, queued_at=480.0)
    assert decide(resolved(), sent, True, 500.0, TIMING) == "resolved"
    again = SentState("resolved", 100.0, queued_at=500.0)
    assert decide(resolved(), again, True, 530.0, TIMING) is None
    assert decide(resolved(), again, True, 560.0, TIMING) == "resolved"
    late = SentState("resolved", 100.0, queued_at=1380.0)
    assert decide(resolved(), late, True, 500.0 + 901.0, TIMING) is None


def test_transition_receivers_get_firing_once_per_incident() -> None:
    """Slack, PagerDuty, webhook: one firing per startsAt however often it is submitted."""
    assert decide(firing(), None, False, 100.0, TIMING) == "firing"
    sent = SentState("firing", 100.0, queued_at=100.0)
    assert decide(firing(), sent, False, 100_000.0, TIMING) is None
    assert decide(firing(fired_at=2000.0), sent, False, 2000.0, TIMING) == "firing"


def test_transition_receivers_get_resolution_once_and_only_after_firing() -> None:
    """Resolved is sent once, and never for an incident whose firing was not sent."""
    assert decide(resolved(), None, False, 500.0, TIMING) is None
    sent = SentState("firing", 100.0, queued_at=100.0)
    assert decide(resolved(), sent, False, 500.0, TIMING) == "resolved"
    done = SentState("resolved", 100.0, queued_at=500.0)
    assert decide(resolved(), done, False, 560.0, TIMING) is None
    other = SentState("firing", 50.0, queued_at=50.0)
    assert decide(resolved(), other, False, 500.0, TIMING) is None


# Time moves between evaluations (gaps > 0), so a new incident never reuses an old startsAt.
_steps = st.lists(
    st.tuples(st.sampled_from(["pending", "firing", "resolved"]), st.floats(0.5, 600.0)),
    max_size=40,
)


@given(_steps)
def test_transition_notifications_alternate_per_incident(steps: list[tuple[str, float]]) -> None:
    """For any history, a transition receiver sees firing then at most one resolved per startsAt."""
    now, incident, state = 0.0, 0.0, None
    sent: list[tuple[str, float]] = []
    for kind, gap in steps:
        now += gap
        if kind == "firing" and (state is None or state.status == "resolved"):
            incident = now
        alert = {
            "pending": Alert(LABELS, {}, "pending", now),
            "firing": firing(fired_at=incident),
            "resolved": resolved(fired_at=incident, resolved_at=now),
        }[kind]
        event = decide(alert, state, False, now, TIMING)
        if event is not None:
            sent.append((event, incident))
            state = SentState(event, incident, now)
    for index, (event, began) in enumerate(sent):
        if event == "resolved":
            assert index > 0 and sent[index - 1] == ("firing", began)
    assert len(set(sent)) == len(sent)
