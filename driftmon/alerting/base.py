"""What every receiver shares: the `Receiver` protocol, its configuration base, the kind table.

A receiver turns an alert into a stored payload when the notification is queued (`render`), and
that payload into an HTTP request when it is delivered (`request`). Secrets (webhook URLs,
routing keys) enter only at `request`, so the outbox in the database never holds them.

Each ``alerting/<kind>.py`` defines its configuration model (on `ReceiverConfigBase`) and its
runtime class, and calls `register_receiver`; `RECEIVER_KINDS` is the table that
`driftmon.config` builds the ``alerting.receivers`` union from and `build_receivers` builds with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Self

from pydantic import Field, SecretStr, model_validator

from driftmon.alerts import Alert
from driftmon.config_base import Kind, KindTable, Seconds, Section
from driftmon.secrets import read_secret

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


class ReceiverConfigBase(Section):
    """Fields every receiver has: a name (default: its kind) and the labels it routes on."""

    kind: str
    name: str | None = None
    #: only alerts whose labels equal all of these are sent here (e.g. ``severity: page``)
    match: dict[str, str] = Field(default_factory=dict)
    #: ...and whose labels fully match all of these regular expressions
    match_re: dict[str, re.Pattern[str]] = Field(default_factory=dict)
    timeout: Seconds = 10.0

    @property
    def receiver_name(self) -> str:
        """The configured name, else the kind."""
        return self.name or self.kind

    @property
    def route(self) -> Route:
        """Which alerts this receiver takes."""
        return Route(self.match, self.match_re)


class SecretConfig(ReceiverConfigBase):
    """A receiver with a secret given inline, in a file or in an environment variable: a subclass
    names it in `secret_field` and declares `<secret_field>`, `<secret_field>_file` and
    `<secret_field>_env`, of which exactly one must be set."""

    secret_field: ClassVar[str]

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if sum(getattr(self, name) is not None for name in self._sources()) != 1:
            raise ValueError(f"give exactly one of {', '.join(self._sources())}")
        return self

    def secret_value(self, environ: Mapping[str, str] | None = None) -> str:
        """The secret, read from wherever it is kept."""
        inline, file, env = (getattr(self, name) for name in self._sources())
        where = f"receiver {self.receiver_name}"
        return read_secret(where, inline, file, env, environ, field=self.secret_field)

    def _sources(self) -> tuple[str, str, str]:
        return self.secret_field, f"{self.secret_field}_file", f"{self.secret_field}_env"


class SecretURLConfig(SecretConfig):
    """A receiver whose URL is a secret: given inline, in a file, or in an environment variable."""

    secret_field = "url"
    url: SecretStr | None = None
    url_file: Path | None = None
    url_env: str | None = None


@dataclass(frozen=True, slots=True)
class SecretURLReceiver:
    """A receiver that POSTs one message at a time to a URL that is a secret; `repr` never shows it.

    Subclasses set `kind`, add `render` and `from_config`, and pass ``repr=False`` to `dataclass`."""

    name: str
    url: str
    route: Route = field(default_factory=Route)
    timeout: float = 10.0
    kind: str = ""
    resends: bool = False
    max_batch: int = 1
    target_count: int = 1

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url=<redacted>)"

    def secrets(self) -> Sequence[str]:
        """The URL."""
        return (self.url,)

    def request(self, target: int, payloads: Sequence[Payload], now: float) -> OutboundRequest:
        """One POST of one message."""
        return OutboundRequest(self.url, payloads[0])


class ReceiverClass(Protocol):
    """A runtime receiver class: builds itself from its configuration, reading its secrets."""

    def from_config(self, config: Any, environ: Mapping[str, str] | None = None) -> Receiver:
        """The receiver that `config` (its kind's configuration model) describes."""
        ...


RECEIVER_KINDS: KindTable[Kind[ReceiverConfigBase, ReceiverClass]] = KindTable("receiver")
"""Every receiver kind, by the ``kind`` value that selects it in ``alerting.receivers``."""


def register_receiver(kind: str, config: type[ReceiverConfigBase], receiver: ReceiverClass) -> None:
    """Add `kind` to `RECEIVER_KINDS`; its `config` model must declare ``kind: Literal[kind]``."""
    RECEIVER_KINDS.register(kind, Kind(config, receiver))


def build_receiver(config: ReceiverConfigBase, environ: Mapping[str, str] | None = None) -> Receiver:
    """The runtime receiver for one ``alerting.receivers`` entry, its secrets read now."""
    return RECEIVER_KINDS[config.kind].plugin.from_config(config, environ)
