"""The notifier's metric families, registered on a given registry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

OUTCOMES = ("sent", "failed", "dropped")


class NotifierMetrics:
    """``driftmon_notifications_total{receiver,outcome}`` and the outbox depth per receiver.

    Outcomes count notifications (one alert to one endpoint): `sent` (accepted), `failed` (an
    attempt failed; it will be retried), `dropped` (given up: rejected as invalid, or too old).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.notifications = Counter(
            "driftmon_notifications",
            "Alert notifications by receiver and outcome (sent, failed attempt, dropped).",
            ["receiver", "outcome"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "driftmon_notification_queue_depth",
            "Notifications waiting in the durable outbox, by receiver.",
            ["receiver"],
            registry=registry,
        )

    def declare(self, receivers: Iterable[str]) -> None:
        """Create every series at zero so dashboards see the receivers before any traffic."""
        for receiver in receivers:
            for outcome in OUTCOMES:
                self.notifications.labels(receiver, outcome)
            self.queue_depth.labels(receiver)

    def count(self, receiver: str, outcome: str, n: int = 1) -> None:
        """Add `n` notifications with `outcome`."""
        if n:
            self.notifications.labels(receiver, outcome).inc(n)

    def set_depth(self, receivers: Iterable[str], depth: Mapping[str, int]) -> None:
        """Set the queue depth of each receiver (zero where nothing is queued)."""
        for receiver in receivers:
            self.queue_depth.labels(receiver).set(depth.get(receiver, 0))
