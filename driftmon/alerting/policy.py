"""What to send, decided from an alert, the last notification state and the time (pure).

Pending alerts are never sent. For a receiver that `resends` (Alertmanager), a firing alert is
sent when it starts firing and again every `resend_delay`; a resolved one is sent when it
resolves and again every `resend_delay` for `resolved_retention` after its resolve time. For a
transition receiver (Slack, PagerDuty, webhook) a firing alert is sent once per `startsAt`, and
its resolution once, only if its firing was sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from driftmon.alerting.base import Event, starts_at
from driftmon.alerts import Alert
from driftmon.store.outbox import SentState


@dataclass(frozen=True, slots=True)
class Timing:
    """The delivery timing settings."""

    resend_delay: float = 60.0
    evaluation_interval: float = 30.0
    resolved_retention: float = 900.0

    @property
    def valid_for(self) -> float:
        """How long a firing alert sent to Alertmanager stays valid without a resend.

        Four times the longer of evaluation interval and resend delay, so two lost sends do not
        resolve it (Prometheus's rule; Grafana flapped with less, grafana/grafana#38648).
        """
        return 4 * max(self.evaluation_interval, self.resend_delay)


def event_of(alert: Alert) -> Event | None:
    """The alert's deliverable state: firing, resolved, or None (pending or never fired)."""
    if alert.state == "firing":
        return "firing"
    if alert.state == "inactive" and alert.resolved_at is not None and alert.fired_at is not None:
        return "resolved"
    return None


def decide(alert: Alert, prior: SentState | None, resends: bool, now: float, timing: Timing) -> Event | None:
    """The notification to queue for `alert` at one receiver now, or None."""
    event = event_of(alert)
    if event is None:
        return None
    began = starts_at(alert)
    if resends:
        return event if _resend_due(alert, event, began, prior, now, timing) else None
    if event == "firing":
        same = prior is not None and prior.status == "firing" and prior.starts_at == began
        return None if same else "firing"
    was_firing = prior is not None and prior.status == "firing" and prior.starts_at == began
    return "resolved" if was_firing else None


def _resend_due(
    alert: Alert, event: Event, began: float, prior: SentState | None, now: float, timing: Timing
) -> bool:
    resolved_at = alert.resolved_at
    if event == "resolved" and resolved_at is not None and now - resolved_at > timing.resolved_retention:
        return False
    if prior is None or prior.status != event or prior.starts_at != began:
        return True
    return now - prior.queued_at >= timing.resend_delay
