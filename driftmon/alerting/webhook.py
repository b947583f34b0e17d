"""A generic webhook receiving Alertmanager's webhook JSON (version 4), one per transition.

Each message carries one alert, so ``groupKey`` is unique per alert and a receiver that
deduplicates on it sees each transition once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from driftmon.alerting.base import (
    Event,
    Payload,
    RenderContext,
    SecretURLConfig,
    SecretURLReceiver,
    register_receiver,
    rfc3339,
    starts_at,
)
from driftmon.alerts import Alert

#: Alertmanager's "no end time" in webhook messages for firing alerts
ZERO_TIME = "0001-01-01T00:00:00Z"


def group_key(labels: Mapping[str, str]) -> str:
    """An Alertmanager-style group key for a group of one alert: ``{}:{a="1", b="2"}``."""
    inner = ", ".join(f'{name}="{value}"' for name, value in sorted(labels.items()))
    return "{}:{" + inner + "}"


def webhook_message(alert: Alert, event: Event, receiver: str, ctx: RenderContext) -> Payload:
    """Alertmanager's webhook JSON (version 4) for one alert's transition."""
    ends = ZERO_TIME
    if event == "resolved":
        ends = rfc3339(alert.resolved_at if alert.resolved_at is not None else ctx.now)
    item = {
        "status": event,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(starts_at(alert)),
        "endsAt": ends,
        "generatorURL": ctx.generator_url,
        "fingerprint": alert.fingerprint,
    }
    return {
        "version": "4",
        "groupKey": group_key(alert.labels),
        "truncatedAlerts": 0,
        "status": event,
        "receiver": receiver,
        "groupLabels": {"alertname": alert.name},
        "commonLabels": dict(alert.labels),
        "commonAnnotations": dict(alert.annotations),
        "externalURL": ctx.external_url,
        "alerts": [item],
    }


class WebhookConfig(SecretURLConfig):
    """A generic webhook receiving Alertmanager's webhook JSON (version 4), one per transition."""

    kind: Literal["webhook"]


@dataclass(frozen=True, slots=True, repr=False)
class WebhookReceiver(SecretURLReceiver):
    """A webhook URL (a secret); `repr` never shows it."""

    kind: str = "webhook"

    @classmethod
    def from_config(cls, config: WebhookConfig, environ: Mapping[str, str] | None = None) -> WebhookReceiver:
        """The receiver a kind webhook entry describes, its URL read from wherever it is kept."""
        return cls(config.receiver_name, config.secret_value(environ), config.route, config.timeout)

    def render(self, alert: Alert, event: Event, ctx: RenderContext) -> Payload:
        """The webhook message."""
        return webhook_message(alert, event, self.name, ctx)


register_receiver("webhook", WebhookConfig, WebhookReceiver)
