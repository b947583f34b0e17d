"""One contract over every registered receiver kind (`RECEIVER_KINDS`), as test_generators does
for generator adapters: each loads from YAML, renders JSON without secrets, posts through an
httpx.MockTransport, classifies 2xx/4xx/429/5xx alike, and never logs or stores a secret."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
import yaml
from prometheus_client import CollectorRegistry

from driftmon.alerting import RECEIVER_KINDS, Backoff, Notifier, NotifierMetrics, Receiver, Timing
from driftmon.alerting.base import RenderContext
from driftmon.alerting.notifier import build_receivers
from driftmon.alerts import Alert
from driftmon.config import Config, load_config
from driftmon.store import connect

T0 = 1_800_000_000.0
SECRET = "S3CRET-token-42"
LABELS = {"alertname": "TextFidelityLow", "model_version": "v2", "severity": "page"}
NOTES = {"summary": "fidelity low", "runbook_url": "https://runbooks.test/fid"}
FIRING = Alert(LABELS, NOTES, "firing", T0 - 300, T0, value=0.63)
RESOLVED = Alert(LABELS, NOTES, "inactive", T0 - 300, T0, T0 + 600, value=0.9)
CTX = RenderContext(
    now=T0,
    generator_url="http://driftmon.test/v1/alerts",
    external_url="http://driftmon.test",
    valid_for=240.0,
)
ENVIRON = {"PD_KEY": SECRET}

#: per kind: its `alerting.receivers` entry ({dir}: a folder holding the file `secret-url`) and
#: the URL its notifications go to. A kind registered without an example fails the suite.
EXAMPLES: dict[str, tuple[dict[str, Any], str]] = {
    "alertmanager": ({"urls": ["http://am.test:9093/"]}, "http://am.test:9093/api/v2/alerts"),
    "slack": ({"url_file": "{dir}/secret-url", "channel": "#oncall"}, f"https://hooks.slack.test/{SECRET}"),
    "pagerduty": (
        {"routing_key_env": "PD_KEY", "url": "http://pd.test/v2/enqueue"},
        "http://pd.test/v2/enqueue",
    ),
    "webhook": ({"url": f"http://hook.test/in/{SECRET}"}, f"http://hook.test/in/{SECRET}"),
}


@pytest.fixture(params=sorted(RECEIVER_KINDS))
def kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every registered receiver kind."""
    yield request.param


def loaded(kind: str, tmp_path: Path) -> Config:
    """A configuration file holding `kind`'s example as the only receiver, loaded."""
    (tmp_path / "secret-url").write_text(f"https://hooks.slack.test/{SECRET}\n")
    entry = {"kind": kind, **EXAMPLES[kind][0]}
    entry = {
        key: value.format(dir=tmp_path) if isinstance(value, str) else value for key, value in entry.items()
    }
    path = tmp_path / "driftmon.yaml"
    path.write_text(yaml.safe_dump({"alerting": {"receivers": [entry]}}))
    return load_config(path, environ=ENVIRON)


def built(kind: str, tmp_path: Path) -> Receiver:
    """The runtime receiver of `kind`'s example."""
    (receiver,) = build_receivers(loaded(kind, tmp_path).alerting, ENVIRON)
    return receiver


class Echo:
    """A fake endpoint answering `status` and quoting the request (URL and body) in its answer."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, text=f"{request.url} {request.content.decode()}")


def notifier(receiver: Receiver, transport: httpx.AsyncBaseTransport, db: Path) -> Notifier:
    """A notifier for the one `receiver` over `transport`."""
    return Notifier(
        [receiver],
        connect(db),
        timing=Timing(resend_delay=60.0, evaluation_interval=30.0),
        backoff=Backoff(initial=2.0, maximum=60.0, jitter=0.0),
        public_url="http://driftmon.test:9844/",
        transport=transport,
        rng=random.Random(7),
        metrics=NotifierMetrics(CollectorRegistry()),
    )


@dataclass(frozen=True)
class Delivery:
    """What one delivery round left: notifications sent, still queued, and the next retry."""

    sent: int
    queued: list[dict[str, Any]]
    retry_at: float | None


def deliver(receiver: Receiver, transport: httpx.AsyncBaseTransport, db: Path) -> Delivery:
    """Submit one firing alert and deliver it once."""

    async def body() -> Delivery:
        n = notifier(receiver, transport, db)
        n.submit([FIRING], T0)
        sent = await n.deliver_due(T0)
        result = Delivery(sent, n.pending(), n.next_retry(receiver.name))
        await n.close()
        return result

    return asyncio.run(body())


def test_every_kind_has_an_example() -> None:
    """The suite covers the whole table: a new kind needs an example here."""
    assert set(EXAMPLES) == set(RECEIVER_KINDS)


def test_yaml_entry_becomes_the_registered_classes(kind: str, tmp_path: Path) -> None:
    """The config union takes every registered kind; building gives that kind's runtime class."""
    config = loaded(kind, tmp_path)
    (entry,) = config.alerting.receivers
    row = RECEIVER_KINDS[kind]
    assert type(entry) is row.config
    receiver = built(kind, tmp_path)
    assert type(receiver) is row.plugin
    assert (receiver.name, receiver.kind) == (kind, kind)
    assert SECRET not in repr(receiver)


def test_payloads_are_json_without_secrets(kind: str, tmp_path: Path) -> None:
    """What the outbox stores for firing and resolved is JSON and holds no secret."""
    receiver = built(kind, tmp_path)
    for alert, event in ((FIRING, "firing"), (RESOLVED, "resolved")):
        stored = json.dumps(receiver.render(alert, event, CTX))  # type: ignore[arg-type]
        assert SECRET not in stored
        assert json.loads(stored)


def test_posts_json_to_its_url(kind: str, tmp_path: Path) -> None:
    """A firing alert is one JSON POST to the receiver's URL; delivered, nothing stays queued."""
    echo = Echo(200)
    result = deliver(built(kind, tmp_path), httpx.MockTransport(echo.handle), tmp_path / "db")
    (request,) = echo.requests
    assert (result.sent, request.method, str(request.url)) == (1, "POST", EXAMPLES[kind][1])
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content)
    assert result.queued == []


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "sent"),
        (202, "sent"),
        (400, "drop"),
        (404, "drop"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_status_classification(kind: str, status: int, outcome: str, tmp_path: Path) -> None:
    """2xx delivered; 429 and 5xx kept and retried later; other 4xx dropped: for every kind alike."""
    result = deliver(built(kind, tmp_path), httpx.MockTransport(Echo(status).handle), tmp_path / "db")
    assert result.sent == (1 if outcome == "sent" else 0)
    assert len(result.queued) == (1 if outcome == "retry" else 0)
    retrying = result.retry_at is not None and result.retry_at > T0
    assert retrying == (outcome == "retry")


@pytest.mark.parametrize("status", [400, 500])
def test_secrets_never_logged_or_stored(kind: str, status: int, tmp_path: Path) -> None:
    """An endpoint quoting the request back (URL, routing key) leaves no secret in logs or rows."""
    with structlog.testing.capture_logs() as logs:
        result = deliver(built(kind, tmp_path), httpx.MockTransport(Echo(status).handle), tmp_path / "db")
    assert logs
    assert SECRET not in repr(logs) and SECRET not in repr(result.queued)


def test_transport_errors_are_retried_and_redacted(kind: str, tmp_path: Path) -> None:
    """A connection failure whose message quotes the URL is retried; the logged error is redacted."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    with structlog.testing.capture_logs() as logs:
        result = deliver(built(kind, tmp_path), httpx.MockTransport(refuse), tmp_path / "db")
    assert result.sent == 0 and len(result.queued) == 1
    assert [entry["event"] for entry in logs] == ["notification failed; will retry"]
    assert SECRET not in repr(logs) and SECRET not in repr(result.queued)
