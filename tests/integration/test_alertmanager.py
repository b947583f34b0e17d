"""Delivery to a real Alertmanager (Debian's prometheus-alertmanager) on loopback.

Alertmanager routes to a webhook sink run by the test, with short group timings; every wait is
bounded. The notifier's clock is simulated (see `am_harness.SimClock`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from driftmon.alerting import AlertmanagerReceiver, Backoff, Notifier, NotifierMetrics, Timing
from driftmon.alerts import Alert
from driftmon.store import connect
from tests.integration.am_harness import (
    Alertmanager,
    DaemonProcess,
    RecordingTransport,
    SimClock,
    WebhookSink,
    alertmanager_binary,
    free_port,
    instant,
    wait_until,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(alertmanager_binary() is None, reason="prometheus-alertmanager not installed"),
]

LABELS = {"alertname": "TextFidelityLow", "model_version": "v2", "severity": "page"}
ANNOTATIONS = {
    "summary": "Text fidelity 0.63 on v2",
    "runbook_url": "https://runbooks.example/TextFidelityLow",
}
#: Alertmanager's own group_wait + group_interval is about 1.3 s; this covers it with margin
SETTLE = 4.0
#: the bound on waiting for something that must happen (polls return as soon as it does)
PATIENCE = 20.0


def webhook_answered(alertmanager: Alertmanager) -> float:
    """How many webhook notifications Alertmanager has seen answered (its latency histogram's
    count is observed when the webhook returns, just before the notification log is written)."""
    text = httpx.get(f"{alertmanager.url}/metrics", timeout=5.0).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "alertmanager_notification_latency_seconds_count"
                and sample.labels.get("integration") == "webhook"
            ):
                return sample.value
    return 0.0


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    """The webhook Alertmanager notifies."""
    server = WebhookSink()
    yield server
    server.close()


@pytest.fixture
def alertmanager(tmp_path: Path, sink: WebhookSink) -> Iterator[Alertmanager]:
    """A running Alertmanager routing every alert to `sink`."""
    am = Alertmanager(tmp_path, sink.url)
    am.start()
    yield am
    am.stop()


def notifier(db: Path, am: Alertmanager, clock: SimClock, **kwargs: Any) -> Notifier:
    """A notifier sending to `am` only, over the SQLite file `db`."""
    return Notifier(
        [AlertmanagerReceiver("am", (am.url,))],
        connect(db),
        timing=Timing(resend_delay=60.0, evaluation_interval=30.0),
        backoff=Backoff(initial=1.0, maximum=10.0, jitter=0.5),
        public_url="http://driftmon.test:9844",
        clock=clock,
        rng=random.Random(3),
        **kwargs,
    )


def firing(fired_at: float) -> Alert:
    """The seed incident: TextFidelityLow on model v2, firing since `fired_at`."""
    return Alert(LABELS, ANNOTATIONS, "firing", fired_at - 300.0, fired_at, value=0.63)


def ours(am: Alertmanager) -> list[dict[str, Any]]:
    """The alerts Alertmanager holds with our labels."""
    return [a for a in am.alerts() if a["labels"] == LABELS]


async def step(n: Notifier, alerts: list[Alert], now: float) -> int:
    """One evaluation at simulated time `now`: submit, then deliver what is due."""
    n.submit(alerts, now)
    return await n.deliver_due(now)


def test_firing_then_resolved_arrive_with_labels_and_annotations(
    tmp_path: Path, alertmanager: Alertmanager, sink: WebhookSink
) -> None:
    """Firing reaches the webhook through Alertmanager with our labels and annotations; then
    the resolution arrives."""
    clock = SimClock()

    async def body() -> None:
        n = notifier(tmp_path / "db", alertmanager, clock)
        start = clock()
        assert await step(n, [firing(start)], start) == 1
        assert await wait_until(lambda: bool(sink.received("firing")), PATIENCE), alertmanager.log()
        now = clock.advance(30.0)
        gone = Alert(LABELS, ANNOTATIONS, "inactive", start - 300.0, start, now, value=0.9)
        assert await step(n, [gone], now) == 1
        assert await wait_until(lambda: bool(sink.received("resolved")), PATIENCE), alertmanager.log()
        await n.close()

    asyncio.run(body())
    (fired,) = sink.received("firing")
    assert fired["alerts"][0]["labels"] == LABELS
    assert fired["alerts"][0]["annotations"] == ANNOTATIONS
    assert fired["alerts"][0]["generatorURL"] == "http://driftmon.test:9844/v1/alerts"
    (resolved,) = sink.received("resolved")
    assert resolved["alerts"][0]["labels"] == LABELS
    assert instant(resolved["alerts"][0]["startsAt"]) == instant(fired["alerts"][0]["startsAt"])


def test_alertmanager_down_two_minutes_then_back_alert_there_no_duplicate(
    tmp_path: Path, alertmanager: Alertmanager, sink: WebhookSink
) -> None:
    """Alertmanager stopped for two simulated minutes and restarted: the notifier's queued
    state reaches it, the alert is there with its startsAt, and the webhook is not notified twice."""
    clock = SimClock()
    registry = CollectorRegistry()
    transport = RecordingTransport()

    async def body() -> None:
        n = notifier(
            tmp_path / "db", alertmanager, clock, transport=transport, metrics=NotifierMetrics(registry)
        )
        start = clock()
        await step(n, [firing(start)], start)
        assert await wait_until(lambda: len(sink.received("firing")) == 1, PATIENCE)
        # Alertmanager writes its notification log just after the webhook answers; stopped in
        # between, it would rightly notify again after the restart. Wait until it has the answer.
        assert await wait_until(lambda: webhook_answered(alertmanager) >= 1, PATIENCE)
        alertmanager.stop()
        for _ in range(4):
            await step(n, [firing(start)], clock.advance(30.0))
        assert n.queue_depth() == {"am": 1}
        alertmanager.start()
        assert ours(alertmanager) == []  # it keeps alerts in memory only: gone until re-sent
        await n.deliver_due(clock.advance(11.0))
        assert n.queue_depth() == {}
        assert await wait_until(lambda: len(ours(alertmanager)) == 1, PATIENCE)
        await asyncio.sleep(SETTLE)  # room for a duplicate notification, were there one
        await n.close()

    asyncio.run(body())
    (alert,) = ours(alertmanager)
    assert alert["status"]["state"] == "active"
    assert len(sink.received("firing")) == 1
    assert sink.received("resolved") == []
    failed = registry.get_sample_value(
        "driftmon_notifications_total", {"receiver": "am", "outcome": "failed"}
    )
    assert failed is not None and failed >= 1
    notified = instant(sink.messages[0]["alerts"][0]["startsAt"])
    assert {instant(batch[0]["startsAt"]) for batch in transport.sent} == {notified}


def test_notifier_restart_mid_incident_same_starts_at_no_second_notification(
    tmp_path: Path, alertmanager: Alertmanager, sink: WebhookSink
) -> None:
    """A new notifier over the same database, mid-incident: no early resend, the resend keeps the
    original startsAt, and Alertmanager does not notify again."""
    clock = SimClock()
    transport = RecordingTransport()

    async def body() -> None:
        first = notifier(tmp_path / "db", alertmanager, clock, transport=transport)
        start = clock()
        await step(first, [firing(start)], start)
        assert await wait_until(lambda: len(sink.received("firing")) == 1, PATIENCE)
        await first.close()
        second = notifier(tmp_path / "db", alertmanager, clock, transport=transport)
        assert await step(second, [firing(start)], clock.advance(30.0)) == 0
        assert await step(second, [firing(start)], clock.advance(31.0)) == 1
        await asyncio.sleep(SETTLE)
        await second.close()

    asyncio.run(body())
    assert len(transport.sent) == 2
    assert len({batch[0]["startsAt"] for batch in transport.sent}) == 1
    assert len(sink.received("firing")) == 1
    (alert,) = ours(alertmanager)
    assert instant(alert["startsAt"]) == instant(transport.sent[0][0]["startsAt"])


def test_every_peer_of_an_ha_pair_gets_the_alert_even_while_one_is_down(
    tmp_path: Path, sink: WebhookSink
) -> None:
    """Two Alertmanagers (HA): one down at first does not delay the other, and gets the alert
    once it is back."""
    clock = SimClock()
    for name in ("am0", "am1"):
        (tmp_path / name).mkdir()
    peers = [Alertmanager(tmp_path / name, sink.url) for name in ("am0", "am1")]
    peers[0].start()
    try:

        async def body() -> None:
            n = Notifier(
                [AlertmanagerReceiver("am", tuple(peer.url for peer in peers))],
                connect(tmp_path / "db"),
                timing=Timing(resend_delay=60.0, evaluation_interval=30.0),
                backoff=Backoff(initial=1.0, maximum=10.0, jitter=0.0),
                clock=clock,
            )
            start = clock()
            assert await step(n, [firing(start)], start) == 1
            assert len(ours(peers[0])) == 1
            assert n.queue_depth() == {"am": 1}
            peers[1].start()
            assert await n.deliver_due(clock.advance(2.0)) == 1
            await n.close()

        asyncio.run(body())
        assert [len(ours(peer)) for peer in peers] == [1, 1]
        assert instant(ours(peers[0])[0]["startsAt"]) == instant(ours(peers[1])[0]["startsAt"])
    finally:
        for peer in peers:
            peer.stop()


KILL_RULES = """\
groups:
  - name: kill-test
    interval: 1s
    rules:
      - alert: DaemonAlive
        # queue_fill_ratio is recorded by the daemon itself every tick: true without any sample
        expr: max(queue_fill_ratio[1m]) >= 0
        labels: {severity: page}
        annotations: {summary: "scoring queue {{ $value }} full"}
"""


def daemon_config(tmp_path: Path, port: int, peers: list[str]) -> Path:
    """A daemon config: one 1 s rule group, Alertmanager peers, resend every 5 s (valid 20 s)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(KILL_RULES)
    config = tmp_path / "driftmon.yaml"
    urls = ", ".join(f'"{url}"' for url in peers)
    config.write_text(
        f"server: {{host: 127.0.0.1, port: {port}, public_url: 'http://127.0.0.1:{port}'}}\n"
        f"store: {{path: '{tmp_path / 'data' / 'driftmon.db'}'}}\n"
        f"artifacts: {{dir: '{tmp_path / 'data' / 'artifacts'}'}}\n"
        "scoring: {device: cpu}\n"
        f"rules: {{paths: ['{rules}'], evaluation_interval: 1s}}\n"
        "alerting:\n"
        "  resend_delay: 5s\n"
        "  backoff: {initial: 200ms, max: 2s}\n"
        f"  receivers: [{{kind: alertmanager, urls: [{urls}]}}]\n"
        "logging: {level: info, format: json}\n"
    )
    return config


def test_daemon_killed_while_firing_restarts_with_same_starts_at_and_no_second_notification(
    tmp_path: Path, alertmanager: Alertmanager, sink: WebhookSink
) -> None:
    """`driftmon run` SIGKILLed while an alert fires, then restarted: every send before and after
    carries the same startsAt, Alertmanager holds one alert, and its webhook is notified once."""
    recorder = WebhookSink()  # a second "peer" that records exactly what the daemon posts
    port = free_port()
    daemon = DaemonProcess(tmp_path, daemon_config(tmp_path, port, [alertmanager.url, recorder.url]), port)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        daemon.start()
        assert await wait_until(lambda: len(sink.received("firing")) == 1, 30.0), daemon.log()
        before = daemon.alerts()
        daemon.kill()
        posts = len(recorder.messages)
        daemon.start()
        assert await wait_until(lambda: len(recorder.messages) > posts, 30.0), daemon.log()
        after = daemon.alerts()
        await asyncio.sleep(SETTLE)  # room for a duplicate notification, were there one
        return before, after

    try:
        before, after = asyncio.run(scenario())
    finally:
        daemon.stop()
        recorder.close()
    started = sink.received("firing")[0]["alerts"][0]["startsAt"]
    assert [a["startsAt"] for a in before] == [a["startsAt"] for a in after]
    assert {instant(batch[0]["startsAt"]) for batch in recorder.messages} == {instant(started)}
    (alert,) = [a for a in alertmanager.alerts() if a["labels"]["alertname"] == "DaemonAlive"]
    assert instant(alert["startsAt"]) == instant(started) and alert["status"]["state"] == "active"
    assert len(sink.received("firing")) == 1
    assert sink.received("resolved") == []
