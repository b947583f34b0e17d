"""Slack incoming webhook: one message when an alert fires and one when it resolves.

Messages carry the value, summary and description, labels, and links to the runbook, the
overlay of the worst recent sample and the daemon's alert page.
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
    format_value,
    link,
    register_receiver,
    rfc3339,
    starts_at,
)
from driftmon.alerts import Alert

_LINK_TEXT = {"runbook": "Runbook", "overlay": "Worst recent sample", "alerts": "driftmon alerts"}
_HIDDEN_ANNOTATIONS = {"summary", "description", "runbook_url", "overlay_url"}


def escape(text: str) -> str:
    """Text safe in Slack mrkdwn: ``&``, ``<`` and ``>`` as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def duration(seconds: float) -> str:
    """A duration as people read it: ``1h 2m``, ``5m 30s``, ``42s``."""
    total = max(round(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _headline(alert: Alert, event: Event) -> str:
    icon = ":rotating_light: FIRING" if event == "firing" else ":white_check_mark: RESOLVED"
    scope = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "alertname")
    return f"{icon}: {alert.name}" + (f" ({scope})" if scope else "")


def _body(alert: Alert, event: Event, ctx: RenderContext) -> str:
    lines = [f"*{escape(_headline(alert, event))}*"]
    for key in ("summary", "description"):
        if alert.annotations.get(key):
            lines.append(escape(alert.annotations[key]))
    began = starts_at(alert)
    if event == "firing":
        lines.append(f"*Value:* {format_value(alert.value)} · *Since:* {rfc3339(began)}")
    else:
        ended = alert.resolved_at if alert.resolved_at is not None else ctx.now
        lines.append(f"*Last value:* {format_value(alert.value)} · *Lasted:* {duration(ended - began)}")
    extra = {k: v for k, v in alert.annotations.items() if k not in _HIDDEN_ANNOTATIONS}
    if extra:
        lines.append(" · ".join(f"*{escape(k)}:* {escape(v)}" for k, v in sorted(extra.items())))
    links = link(alert, ctx)
    lines.append(" · ".join(f"<{url}|{_LINK_TEXT[name]}>" for name, url in links.items()))
    return "\n".join(lines)


def slack_message(alert: Alert, event: Event, ctx: RenderContext) -> Payload:
    """The incoming-webhook JSON: plain `text` for notifications, one mrkdwn section block."""
    return {
        "text": _headline(alert, event),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": _body(alert, event, ctx)}}],
    }


class SlackConfig(SecretURLConfig):
    """Slack incoming webhook: one message when an alert fires, one when it resolves."""

    kind: Literal["slack"]
    channel: str | None = None
    username: str | None = None


@dataclass(frozen=True, slots=True, repr=False)
class SlackReceiver(SecretURLReceiver):
    """A Slack incoming-webhook URL (a secret); `repr` never shows it."""

    kind: str = "slack"
    channel: str | None = None
    username: str | None = None

    @classmethod
    def from_config(cls, config: SlackConfig, environ: Mapping[str, str] | None = None) -> SlackReceiver:
        """The receiver a kind slack entry describes, its URL read from wherever it is kept."""
        url = config.secret_value(environ)
        return cls(
            config.receiver_name,
            url,
            config.route,
            config.timeout,
            channel=config.channel,
            username=config.username,
        )

    def render(self, alert: Alert, event: Event, ctx: RenderContext) -> Payload:
        """The message, with the channel and username overrides if configured."""
        message = slack_message(alert, event, ctx)
        if self.channel:
            message["channel"] = self.channel
        if self.username:
            message["username"] = self.username
        return message


register_receiver("slack", SlackConfig, SlackReceiver)
