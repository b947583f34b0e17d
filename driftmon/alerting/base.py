"""What every receiver shares: the `Receiver` protocol, routing by labels, secrets, time format.

A receiver turns an alert into a stored payload when the notification is queued (`render`), and
that payload into an HTTP request when it is delivered (`request`). Secrets (webhook URLs,
routing keys) enter only at `request`, so the outbox in the database never holds them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import SecretStr

from driftmon.alerts import Alert
from driftmon.errors import ConfigError

Event = Literal["firing", "resolved"]
Payload = dict[str, Any]
Outcome = Literal["sent", "retry", "drop"]


def rfc3339(ts: float) -> str:
    """Unix seconds as an RFC 3339 UTC time with milliseconds, e.g. ``2026-11-26T05:00:00.000Z``."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def classify(status: int) -> Outcome:
    """What an HTTP status means for a notification: delivered, worth retrying, or hopeless."""
    if 200 <= status < 300:
        return "sent"
    if status in (408, 425, 429) or status >= 500:
        return "retry"
    return "drop"


def redact(text: str, secrets: Sequence[str]) -> str:
    """`text` with every secret replaced, for log lines and stored error messages."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def read_secret(
    where: str,
    inline: SecretStr | None,
    file: Path | None,
    env: str | None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The secret given inline, in `file`, or in the environment variable `env`.

    ConfigError names the receiver and the file or variable, never the value.
    """
    if inline is not None:
        return inline.get_secret_value().strip()
    if file is not None:
        try:
            value = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read secret file {file}: {exc.strerror}") from exc
        if not value:
            raise ConfigError(f"{where}: secret file {file} is empty")
        return value
    if env is not None:
        value = (os.environ if environ is None else environ).get(env, "").strip()
        if not value:
            raise ConfigError(f"{where}: environment variable {env} is unset or empty")
        return value
    raise ConfigError(f"{where}: no secret given")


@dataclass(frozen=True, slots=True)
class Route:
    """Which alerts a receiver takes: labels equal to `match` and fully matching `match_re`."""

    match: Mapping[str, str] = field(default_factory=dict)
    match_re: Mapping[str, re.Pattern[str]] = field(default_factory=dict)

    def accepts(self, labels: Mapping[str, str]) -> bool:
        """True when every matcher holds (a missing label is the empty string, as in Prometheus)."""
        if any(labels.get(name, "") != value for name, value in self.match.items()):
            return False
        return all(p.fullmatch(labels.get(name, "")) for name, p in self.match_re.items())


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What a payload needs besides the alert, fixed when the notification is queued."""

    now: float
    #: the daemon's page of alerts, `<public_url>/v1/alerts`
    generator_url: str
    #: the daemon's public URL
    external_url: str
    #: Alertmanager: a firing alert sent now is valid this long (4 × max(interval, resend))
    valid_for: float
    #: link to the overlay of the worst recent sample, if known
    overlay_url: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """One HTTP POST to a receiver."""

    url: str
    json: Any
    headers: Mapping[str, str] = field(default_factory=dict)


class Receiver(Protocol):
    """A destination for notifications.

    `resends` True (Alertmanager): the alert's state is re-sent every `resend_delay` and a newer
    state replaces a queued one. False (Slack, PagerDuty, webhook): one notification per
    transition (firing, resolved), delivered once.
    """

    @property
    def name(self) -> str:
        """Unique among receivers; the `receiver` label of metrics."""
        ...

    @property
    def kind(self) -> str:
        """alertmanager, slack, pagerduty or webhook."""
        ...

    @property
    def route(self) -> Route:
        """Which alerts it takes."""
        ...

    @property
    def resends(self) -> bool:
        """True: state re-sent every resend delay; False: each transition once."""
        ...

    @property
    def max_batch(self) -> int:
        """How many queued payloads one request may carry."""
        ...

    @property
    def timeout(self) -> float:
        """Seconds allowed for one request."""
        ...

    @property
    def target_count(self) -> int:
        """How many endpoints each notification goes to (Alertmanager HA peers; else 1)."""
        ...

    def secrets(self) -> Sequence[str]:
        """Values that must never appear in logs or stored errors."""
        ...

    def render(self, alert: Alert, event: Event, ctx: RenderContext) -> Payload:
        """The JSON-safe payload stored in the outbox (no secrets)."""
        ...

    def request(self, target: int, payloads: Sequence[Payload], now: float) -> OutboundRequest:
        """The HTTP request delivering `payloads` (at most `max_batch`) to endpoint `target`."""
        ...


def starts_at(alert: Alert) -> float:
    """When the alert started firing (`fired_at`; `active_at` if the engine left it unset)."""
    return alert.fired_at if alert.fired_at is not None else alert.active_at


def format_value(value: float | None) -> str:
    """A reading as people read it: four significant digits, or "n/a"."""
    return "n/a" if value is None else f"{value:.4g}"


def link(alert: Alert, ctx: RenderContext) -> dict[str, str]:
    """The links a human message carries: runbook, overlay of the worst sample, alert list."""
    links = {"alerts": ctx.generator_url}
    runbook = alert.annotations.get("runbook_url") or alert.labels.get("runbook_url")
    if runbook:
        links["runbook"] = runbook
    if ctx.overlay_url:
        links["overlay"] = ctx.overlay_url
    return links
