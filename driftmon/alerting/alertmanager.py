"""Alertmanager API v2: ``POST /api/v2/alerts`` with a JSON array of alerts, to every peer.

A firing alert's ``endsAt`` is set when it is sent, ``now + valid_for`` (4 × max(evaluation
interval, resend delay), as Prometheus does), so that two lost sends do not resolve it. A
resolved alert carries its resolve time. Alertmanager identifies alerts by their labels, so
re-sending is harmless; the receiver's own notifications are deduplicated by Alertmanager.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from driftmon.alerting.base import (
    Event,
    OutboundRequest,
    Payload,
    ReceiverConfigBase,
    RenderContext,
    Route,
    register_receiver,
    rfc3339,
    starts_at,
)
from driftmon.alerts import Alert

API_PATH = "/api/v2/alerts"


class AlertmanagerConfig(ReceiverConfigBase):
    """Alertmanager API v2; every URL (an HA cluster's peers) gets every alert."""

    kind: Literal["alertmanager"]
    #: base URLs, e.g. ``http://alertmanager:9093``; ``/api/v2/alerts`` is appended
    urls: list[str] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class AlertmanagerReceiver:
    """An Alertmanager cluster: each base URL gets every alert."""

    name: str
    urls: tuple[str, ...]
    route: Route = field(default_factory=Route)
    timeout: float = 10.0
    kind: str = "alertmanager"
    resends: bool = True
    max_batch: int = 64

    @classmethod
    def from_config(
        cls, config: AlertmanagerConfig, environ: Mapping[str, str] | None = None
    ) -> AlertmanagerReceiver:
        """The receiver an `alerting.receivers` entry of kind alertmanager describes (no secrets)."""
        return cls(
            name=config.receiver_name,
            urls=tuple(url.rstrip("/") for url in config.urls),
            route=config.route,
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


register_receiver("alertmanager", AlertmanagerConfig, AlertmanagerReceiver)
