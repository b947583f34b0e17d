"""Alertmanager API v2: ``POST /api/v2/alerts`` with a JSON array of alerts, to every peer.

A firing alert's ``endsAt`` is set when it is sent, ``now + valid_for`` (4 × max(evaluation
interval, resend delay), as Prometheus does), so that two lost sends do not resolve it. A
resolved alert carries its resolve time. Alertmanager identifies alerts by their labels, so
re-sending is harmless; the receiver's own notifications are deduplicated by Alertmanager.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from driftmon.alerting.base import (
    Event,
    OutboundRequest,
    Payload,
    RenderContext,
    Route,
    rfc3339,
    starts_at,
)
from driftmon.alerts import Alert
from driftmon.config import AlertmanagerReceiver

API_PATH = "/api/v2/alerts"


@dataclass(frozen=True, slots=True)
class AlertmanagerTarget:
    """An Alertmanager cluster: each base URL gets every alert."""

    name: str
    urls: tuple[str, ...]
    route: Route = field(default_factory=Route)
    timeout: float = 10.0
    kind: str = "alertmanager"
    resends: bool = True
    max_batch: int = 64

    @classmethod
    def from_config(cls, config: AlertmanagerReceiver) -> AlertmanagerTarget:
        """The receiver an `alerting.receivers` entry of kind alertmanager describes."""
        return cls(
            name=config.name or config.kind,
            urls=tuple(url.rstrip("/") for url in config.urls),
            route=Route(config.match, config.match_re),
            timeout=config.timeout,
        )

    @property
    def target_count(self) -> int:
        """One endpoint per Alertmanager peer."""
        return len(self.urls)

    def secrets(self) -> Sequence[str]:
        """Alertmanager URLs are not secret."""
        return ()

    def render(self, alert: Alert, event: Event, ctx: RenderContext) -> Payload:
        """The API v2 alert; a firing one keeps `_valid_for` so `endsAt` is set at send time."""
        payload: Payload = {
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "startsAt": rfc3339(starts_at(alert)),
            "generatorURL": ctx.generator_url,
        }
        if event == "resolved":
            resolved = alert.resolved_at if alert.resolved_at is not None else ctx.now
            payload["endsAt"] = rfc3339(resolved)
        else:
            payload["_valid_for"] = ctx.valid_for
        return payload

    def request(self, target: int, payloads: Sequence[Payload], now: float) -> OutboundRequest:
        """One POST of all `payloads` to peer `target`, firing ones valid from `now`."""
        return OutboundRequest(self.urls[target].rstrip("/") + API_PATH, [_wire(p, now) for p in payloads])


def _wire(payload: Payload, now: float) -> Payload:
    alert = {key: value for key, value in payload.items() if not key.startswith("_")}
    if "_valid_for" in payload:
        alert["endsAt"] = rfc3339(now + float(payload["_valid_for"]))
    return alert
