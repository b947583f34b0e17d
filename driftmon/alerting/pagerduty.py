"""PagerDuty Events API v2: ``trigger`` when an alert fires, ``resolve`` when it resolves.

The ``dedup_key`` is derived from the alert's fingerprint, so a repeated trigger (after a crash
between delivery and bookkeeping) updates the same PagerDuty alert instead of paging twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from driftmon.alerting.base import (
    Event,
    OutboundRequest,
    Payload,
    RenderContext,
    Route,
    SecretConfig,
    format_value,
    link,
    register_receiver,
    rfc3339,
    starts_at,
)
from driftmon.alerts import Alert

_SEVERITIES = {
    "critical": "critical",
    "page": "critical",
    "error": "error",
    "warning": "warning",
    "warn": "warning",
    "info": "info",
    "none": "info",
}
_LINK_TEXT = {"runbook": "Runbook", "overlay": "Worst recent sample", "alerts": "driftmon alerts"}
_SUMMARY_MAX = 1024  # PagerDuty's limit on payload.summary


def dedup_key(alert: Alert) -> str:
    """The PagerDuty dedup_key: stable for an alert's label set."""
    return f"driftmon-{alert.fingerprint}"


def _summary(alert: Alert) -> str:
    text = alert.annotations.get("summary")
    if not text:
        scope = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "alertname")
        text = f"{alert.name} ({scope})" if scope else alert.name
    return text[:_SUMMARY_MAX]


def pagerduty_event(alert: Alert, event: Event, ctx: RenderContext, default_severity: str) -> Payload:
    """The Events API v2 body without `routing_key` (added when it is sent)."""
    if event == "resolved":
        return {"event_action": "resolve", "dedup_key": dedup_key(alert)}
    severity = _SEVERITIES.get(alert.labels.get("severity", "").lower(), default_severity)
    details = {
        "value": format_value(alert.value),
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
    }
    body: Payload = {
        "event_action": "trigger",
        "dedup_key": dedup_key(alert),
        "client": "driftmon",
        "client_url": ctx.generator_url,
        "payload": {
            "summary": _summary(alert),
            "source": alert.labels.get("instance") or ctx.external_url,
            "severity": severity,
            "timestamp": rfc3339(starts_at(alert)),
            "class": alert.name,
            "custom_details": details,
        },
        "links": [{"href": url, "text": _LINK_TEXT[name]} for name, url in link(alert, ctx).items()],
    }
    for key, label in (("component", "model_version"), ("group", "source")):
        if alert.labels.get(label):
            body["payload"][key] = alert.labels[label]
    return body


class PagerDutyConfig(SecretConfig):
    """PagerDuty Events API v2: trigger and resolve with a dedup_key stable per alert."""

    kind: Literal["pagerduty"]
    secret_field = "routing_key"
    routing_key: SecretStr | None = None
    routing_key_file: Path | None = None
    routing_key_env: str | None = None
    url: str = "https://events.pagerduty.com/v2/enqueue"
    #: used when the alert has no (known) ``severity`` label
    severity: Literal["critical", "error", "warning", "info"] = "critical"


@dataclass(frozen=True, slots=True)
class PagerDutyReceiver:
    """A PagerDuty integration; its routing key is a secret that `repr` never shows."""

    name: str
    routing_key: str
    route: Route = field(default_factory=Route)
    timeout: float = 10.0
    url: str = "https://events.pagerduty.com/v2/enqueue"
    severity: str = "critical"
    kind: str = "pagerduty"
    resends: bool = False
    max_batch: int = 1
    target_count: int = 1

    @classmethod
    def from_config(
        cls, config: PagerDutyConfig, environ: Mapping[str, str] | None = None
    ) -> PagerDutyReceiver:
        """The receiver a kind pagerduty entry describes, its key read from wherever it is kept."""
        key = config.secret_value(environ)
        return cls(config.receiver_name, key, config.route, config.timeout, config.url, config.severity)

    def __repr__(self) -> str:
        return f"PagerDutyReceiver(name={self.name!r}, routing_key=<redacted>)"

    def secrets(self) -> Sequence[str]:
        """The routing key."""
        return (self.routing_key,)

    def render(self, alert: Alert, event: Event, ctx: RenderContext) -> Payload:
        """The event body, without the routing key."""
        return pagerduty_event(alert, event, ctx, self.severity)

    def request(self, target: int, payloads: Sequence[Payload], now: float) -> OutboundRequest:
        """One POST of one event, the routing key added here."""
        return OutboundRequest(self.url, {"routing_key": self.routing_key, **payloads[0]})


register_receiver("pagerduty", PagerDutyConfig, PagerDutyReceiver)
