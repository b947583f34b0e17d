"""The notifier end to end over httpx.MockTransport, an injected clock and a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import structlog
from prometheus_client import CollectorRegistry

from driftmon.alerting import (
    AlertmanagerReceiver,
    Backoff,
    Notifier,
    NotifierMetrics,
    PagerDutyReceiver,
    Receiver,
    Route,
    SlackReceiver,
    Timing,
    WebhookReceiver,
    rfc3339,
)
from driftmon.alerts import Alert
from driftmon.config import AlertingConfig
from driftmon.store import Store, connect

T = TypeVar("T")
T0 = 1_800_000_000.0
LABELS = {"alertname": "TextFidelityLow", "model_version": "v2", "severity": "page"}
NOTES = {"summary": "fidelity low", "runbook_url": "https://runbooks.test/fid"}
SLACK_URL = "https://hooks.slack.test/services/T0/B0/SECRETxyz"
PD_KEY = "pd-routing-key-SECRET"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion."""
    return asyncio.run(coro)


def firing(fired_at: float = T0, labels: dict[str, str] | None = None, value: float = 0.63) -> Alert:
    """A firing alert."""
    return Alert(labels or LABELS, NOTES, "firing", fired_at - 300, fired_at, value=value)


def resolved(fired_at: float = T0, resolved_at: float = T0 + 600) -> Alert:
    """The firing alert, resolved."""
    return Alert(LABELS, NOTES, "inactive", fired_at - 300, fired_at, resolved_at, value=0.9)


class Server:
    """A fake of every receiver: records requests, answers from a programmable status."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.status: Callable[[httpx.Request], int] = lambda request: 200
        self.headers: dict[str, str] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Record the request, then answer (or raise, if `status` raises)."""
        self.requests.append(request)
        return httpx.Response(self.status(request), headers=self.headers, text="ok")

    def bodies(self, host: str | None = None) -> list[Any]:
        """The JSON bodies received (by one host, if given)."""
        return [json.loads(r.content) for r in self.requests if host in (None, r.url.host)]

    def down(self) -> None:
        """Every request fails with 503 from now on."""
        self.status = lambda request: 503

    def up(self) -> None:
        """Every request succeeds from now on."""
        self.status = lambda request: 200


def receivers() -> list[Receiver]:
    """Alertmanager (two peers), Slack, PagerDuty only for pages, and a webhook."""
    return [
        AlertmanagerReceiver("am", ("http://am1.test:9093", "http://am2.test:9093")),
        SlackReceiver("slack", SLACK_URL),
        PagerDutyReceiver("pd", PD_KEY, Route({"severity": "page"})),
        WebhookReceiver("hook", "http://hook.test/in"),
    ]


def make(
    db: Path,
    server: Server,
    chosen: Sequence[Receiver] | None = None,
    registry: CollectorRegistry | None = None,
    **kwargs: Any,
) -> Notifier:
    """A notifier over the SQLite file `db`, talking to `server`."""
    return Notifier(
        list(chosen) if chosen is not None else receivers(),
        connect(db),
        timing=Timing(resend_delay=60.0, evaluation_interval=30.0),
        backoff=Backoff(initial=2.0, maximum=60.0, jitter=0.0),
        public_url="http://driftmon.test:9844/",
        transport=httpx.MockTransport(server.handle),
        rng=random.Random(7),
        metrics=NotifierMetrics(registry or CollectorRegistry()),
        **kwargs,
    )


async def step(notifier: Notifier, alerts: Sequence[Alert], now: float) -> int:
    """One evaluation: submit the alerts, then deliver what is due."""
    notifier.submit(alerts, now)
    return await notifier.deliver_due(now)


def by_host(server: Server) -> dict[str, int]:
    """How many requests each host received."""
    counts: dict[str, int] = {}
    for request in server.requests:
        counts[request.url.host] = counts.get(request.url.host, 0) + 1
    return counts


def test_firing_alert_reaches_every_receiver_once(tmp_path: Path) -> None:
    """One firing alert: both Alertmanager peers, Slack, PagerDuty and the webhook get it."""
    server = Server()

    async def body() -> None:
        notifier = make(tmp_path / "db", server)
        sent = await step(notifier, [firing()], T0)
        await notifier.close()
        assert sent == 5

    run(body())
    assert by_host(server) == {
        "am1.test": 1,
        "am2.test": 1,
        "hooks.slack.test": 1,
        "events.pagerduty.com": 1,
        "hook.test": 1,
    }
    (am_alert,) = server.bodies("am1.test")[0]
    assert server.requests[0].url.path == "/api/v2/alerts"
    assert am_alert == {
        "labels": LABELS,
        "annotations": NOTES,
        "startsAt": rfc3339(T0),
        "endsAt": rfc3339(T0 + 240.0),
        "generatorURL": "http://driftmon.test:9844/v1/alerts",
    }


def test_pending_alerts_are_not_sent(tmp_path: Path) -> None:
    """A pending alert queues nothing and sends nothing."""
    server = Server()

    async def body() -> int:
        notifier = make(tmp_path / "db", server)
        queued = notifier.submit([Alert(LABELS, NOTES, "pending", T0)], T0)
        await notifier.deliver_due(T0)
        await notifier.close()
        return queued

    assert run(body()) == 0
    assert server.requests == []


def test_alertmanager_gets_resends_others_do_not(tmp_path: Path) -> None:
    """Over 5 minutes of evaluations every 30 s, Alertmanager gets a send per minute, Slack one."""
    server = Server()

    async def body() -> None:
        notifier = make(tmp_path / "db", server)
        for tick in range(11):
            await step(notifier, [firing()], T0 + 30.0 * tick)
        await notifier.close()

    run(body())
    counts = by_host(server)
    assert counts["am1.test"] == counts["am2.test"] == 6
    assert counts["hooks.slack.test"] == counts["events.pagerduty.com"] == counts["hook.test"] == 1
    ends = [batch[0]["endsAt"] for batch in server.bodies("am1.test")]
    assert ends == [rfc3339(T0 + 60.0 * k + 240.0) for k in range(6)]
    assert {batch[0]["startsAt"] for batch in server.bodies("am1.test")} == {rfc3339(T0)}


def test_resolution_sent_once_to_transition_receivers_and_resent_to_alertmanager(
    tmp_path: Path,
) -> None:
    """Resolved: Slack/PagerDuty/webhook once; Alertmanager every minute for 15 minutes."""
    server = Server()

    async def body() -> None:
        notifier = make(tmp_path / "db", server)
        await step(notifier, [firing()], T0)
        server.requests.clear()
        for tick in range(40):
            await step(notifier, [resolved()], T0 + 600.0 + 30.0 * tick)
        await notifier.close()

    run(body())
    counts = by_host(server)
    assert counts["hooks.slack.test"] == counts["events.pagerduty.com"] == counts["hook.test"] == 1
    am = server.bodies("am1.test")
    assert len(am) == 16  # at 0, 60, ..., 900 s after resolution
    assert {batch[0]["endsAt"] for batch in am} == {rfc3339(T0 + 600.0)}
    assert server.bodies("events.pagerduty.com")[0]["event_action"] == "resolve"
    assert server.bodies("hook.test")[0]["status"] == "resolved"


def test_routing_by_labels_sends_pages_only_to_pagerduty_route(tmp_path: Path) -> None:
    """An alert without `severity: page` never reaches the PagerDuty receiver."""
    server = Server()
    ticket = {"alertname": "LatencyHigh", "severity": "ticket"}

    async def body() -> None:
        notifier = make(tmp_path / "db", server)
        await step(notifier, [firing(labels=ticket)], T0)
        await notifier.close()

    run(body())
    assert "events.pagerduty.com" not in by_host(server)
    assert by_host(server)["hooks.slack.test"] == 1


def test_outage_retries_with_backoff_and_delivers_once(tmp_path: Path) -> None:
    """Slack down: attempts back off 2, 4, 8 s; when it is back the message arrives once."""
    server = Server()
    server.status = lambda r: 503 if r.url.host == "hooks.slack.test" else 200
    registry = CollectorRegistry()

    async def body() -> list[float]:
        notifier = make(tmp_path / "db", server, registry=registry)
        notifier.submit([firing()], T0)
        attempts = []
        now = T0
        while now < T0 + 14.5:
            before = len(server.requests)
            await notifier.deliver_due(now)
            if any(r.url.host == "hooks.slack.test" for r in server.requests[before:]):
                attempts.append(now - T0)
            now += 0.5
        server.up()
        await notifier.deliver_due(now)
        await notifier.deliver_due(now + 100)
        await notifier.close()
        return attempts

    assert run(body()) == [0.0, 2.0, 6.0, 14.0]
    slack = [r for r in server.requests if r.url.host == "hooks.slack.test"]
    assert len(slack) == 5 and len({r.content for r in slack}) == 1
    sample = registry.get_sample_value
    assert sample("driftmon_notifications_total", {"receiver": "slack", "outcome": "failed"}) == 4
    assert sample("driftmon_notifications_total", {"receiver": "slack", "outcome": "sent"}) == 1
    assert sample("driftmon_notification_queue_depth", {"receiver": "slack"}) == 0


def test_receiver_answering_429_is_retried_after_retry_after(tmp_path: Path) -> None:
    """A Retry-After header stretches the backoff to what the receiver asked for."""
    server = Server()
    server.status = lambda r: 429
    server.headers = {"Retry-After": "30"}

    async def body() -> float | None:
        notifier = make(tmp_path / "db", server, chosen=[SlackReceiver("slack", SLACK_URL)])
        await step(notifier, [firing()], T0)
        when = notifier.next_retry("slack")
        await notifier.close()
        return when

    assert run(body()) == T0 + 30.0


def test_rejected_notification_is_dropped_and_counted(tmp_path: Path) -> None:
    """A 400 (a payload the receiver will never take) is dropped, not retried forever."""
    server = Server()
    server.status = lambda r: 400
    registry = CollectorRegistry()

    async def body() -> list[dict[str, Any]]:
        notifier = make(tmp_path / "db", server, chosen=[PagerDutyReceiver("pd", PD_KEY)], registry=registry)
        await step(notifier, [firing()], T0)
        await notifier.deliver_due(T0 + 3600)
        left = notifier.pending()
        await notifier.close()
        return left

    assert run(body()) == []
    assert len(server.requests) == 1
    assert (
        registry.get_sample_value("driftmon_notifications_total", {"receiver": "pd", "outcome": "dropped"})
        == 1
    )


def test_connection_errors_are_retried(tmp_path: Path) -> None:
    """A refused connection is a failed attempt; the notification stays queued."""
    server = Server()

    def refuse(request: httpx.Request) -> int:
        raise httpx.ConnectError("connection refused", request=request)

    server.status = refuse

    async def body() -> int:
        notifier = make(tmp_path / "db", server, chosen=[WebhookReceiver("hook", "http://hook.test/in")])
        await step(notifier, [firing()], T0)
        depth = notifier.queue_depth()["hook"]
        await notifier.close()
        return depth

    assert run(body()) == 1


def test_firing_and_resolution_during_an_outage_arrive_in_order(tmp_path: Path) -> None:
    """Both transitions queued while PagerDuty is down are delivered in order, once each."""
    server = Server()
    server.down()

    async def body() -> None:
        notifier = make(tmp_path / "db", server, chosen=[PagerDutyReceiver("pd", PD_KEY)])
        await step(notifier, [firing()], T0)
        await step(notifier, [resolved()], T0 + 600)
        server.up()
        await notifier.deliver_due(T0 + 10_000)
        await notifier.deliver_due(T0 + 20_000)
        await notifier.close()

    run(body())
    delivered = server.requests[-2:]
    actions = [json.loads(r.content)["event_action"] for r in delivered]
    assert actions == ["trigger", "resolve"]
    assert len(server.requests) == 4  # two failed attempts, then two deliveries


def test_alertmanager_keeps_only_the_newest_state_while_down(tmp_path: Path) -> None:
    """A resolution queued behind an undelivered firing send replaces it for Alertmanager."""
    server = Server()
    server.down()

    async def body() -> None:
        notifier = make(tmp_path / "db", server, chosen=[AlertmanagerReceiver("am", ("http://am.test",))])
        await step(notifier, [firing()], T0)
        await step(notifier, [resolved(resolved_at=T0 + 30)], T0 + 30)
        server.up()
        await notifier.deliver_due(T0 + 100)
        await notifier.close()

    run(body())
    (last,) = json.loads(server.requests[-1].content)
    assert last["endsAt"] == rfc3339(T0 + 30)


def test_stale_alertmanager_firing_state_is_not_sent(tmp_path: Path) -> None:
    """A firing send queued long ago and never renewed is dropped: it could resurrect an alert."""
    server = Server()
    server.down()
    registry = CollectorRegistry()

    async def body() -> None:
        notifier = make(
            tmp_path / "db",
            server,
            chosen=[AlertmanagerReceiver("am", ("http://am.test",))],
            registry=registry,
        )
        await step(notifier, [firing()], T0)
        server.up()
        await notifier.deliver_due(T0 + 241.0)
        await notifier.close()

    run(body())
    assert len(server.requests) == 1
    assert (
        registry.get_sample_value("driftmon_notifications_total", {"receiver": "am", "outcome": "dropped"})
        == 1
    )


def test_notifications_older_than_max_age_are_dropped(tmp_path: Path) -> None:
    """A receiver down longer than `max_age` does not get a day-old page when it returns."""
    server = Server()
    server.down()

    async def body() -> None:
        notifier = make(tmp_path / "db", server, chosen=[SlackReceiver("slack", SLACK_URL)], max_age=3600.0)
        await step(notifier, [firing()], T0)
        server.up()
        await notifier.deliver_due(T0 + 3601.0)
        await notifier.close()

    run(body())
    assert len(server.requests) == 1  # only the failed attempt


def test_outbox_survives_a_restart(tmp_path: Path) -> None:
    """Queued while the receiver is down, the daemon restarts: the new notifier delivers it once."""
    server = Server()
    server.down()

    async def first_life() -> None:
        notifier = make(tmp_path / "db", server)
        await step(notifier, [firing()], T0)
        await notifier.close()

    async def second_life() -> None:
        notifier = make(tmp_path / "db", server)
        assert notifier.queue_depth() == {"am": 2, "slack": 1, "pd": 1, "hook": 1}
        server.up()
        await step(notifier, [firing()], T0 + 5)
        await notifier.deliver_due(T0 + 10)
        await notifier.close()

    run(first_life())
    failed = len(server.requests)
    run(second_life())
    counts = by_host(server)
    assert failed == 5
    assert counts["hooks.slack.test"] == counts["events.pagerduty.com"] == counts["hook.test"] == 2
    assert counts["am1.test"] == 2


def test_restart_mid_incident_neither_repages_nor_changes_starts_at(tmp_path: Path) -> None:
    """After a restart the same firing alert is not sent to Slack/PagerDuty again, and
    Alertmanager gets it only at the next resend, with the original startsAt."""
    server = Server()

    async def life(times: Sequence[float]) -> None:
        notifier = make(tmp_path / "db", server)
        for now in times:
            await step(notifier, [firing()], now)
        await notifier.close()

    run(life([T0, T0 + 30]))
    before = by_host(server)
    run(life([T0 + 45, T0 + 59]))
    assert by_host(server) == before
    run(life([T0 + 61]))
    after = by_host(server)
    assert after["am1.test"] == before["am1.test"] + 1
    assert after["hooks.slack.test"] == after["events.pagerduty.com"] == 1
    assert {b[0]["startsAt"] for b in server.bodies("am1.test")} == {rfc3339(T0)}


def test_a_new_incident_after_resolution_pages_again(tmp_path: Path) -> None:
    """Fire, resolve, fire again with a new startsAt: PagerDuty gets trigger, resolve, trigger."""
    server = Server()

    async def body() -> None:
        notifier = make(tmp_path / "db", server, chosen=[PagerDutyReceiver("pd", PD_KEY)])
        await step(notifier, [firing()], T0)
        await step(notifier, [resolved()], T0 + 600)
        await step(notifier, [firing(fired_at=T0 + 900)], T0 + 900)
        await notifier.close()

    run(body())
    actions = [b["event_action"] for b in server.bodies()]
    assert actions == ["trigger", "resolve", "trigger"]


def test_secrets_never_reach_logs(tmp_path: Path) -> None:
    """Even an error message quoting the Slack URL is logged and stored redacted."""
    server = Server()

    def fail(request: httpx.Request) -> int:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    server.status = fail

    async def body() -> list[dict[str, Any]]:
        notifier = make(tmp_path / "db", server, chosen=[SlackReceiver("slack", SLACK_URL)])
        await step(notifier, [firing()], T0)
        rows = notifier.pending()
        await notifier.close()
        return rows

    with structlog.testing.capture_logs() as logs:
        rows = run(body())
    assert logs and "<redacted>" in logs[0]["error"]
    assert "SECRETxyz" not in repr(logs) and "SECRETxyz" not in repr(rows)
    assert "<redacted>" in rows[0]["last_error"]


def test_overlay_link_from_callable_or_annotation(tmp_path: Path) -> None:
    """The overlay link is the daemon's exact worst sample (the callable), else the alert's
    `overlay_url` annotation (the rule's /v1/samples/worst link) where the callable has none."""
    server = Server()
    seen: list[dict[str, str]] = []

    def overlay(labels: Any) -> str | None:
        seen.append(dict(labels))
        if labels["model_version"] == "v3":
            return None  # no failing sample with a picture here
        return f"http://driftmon.test/v1/samples/worst-{labels['model_version']}/overlay.png"

    annotated = Alert(
        {"alertname": "B", "model_version": "v3"},
        {"overlay_url": "http://x.test/o.png"},
        "firing",
        T0,
        T0,
    )

    async def body() -> None:
        notifier = make(
            tmp_path / "db", server, chosen=[SlackReceiver("slack", SLACK_URL)], overlay_url=overlay
        )
        await step(notifier, [firing(), annotated], T0)
        await notifier.close()

    run(body())
    texts = [b["blocks"][0]["text"]["text"] for b in server.bodies()]
    assert "worst-v2/overlay.png|Worst recent sample>" in texts[0]
    assert "<http://x.test/o.png|Worst recent sample>" in texts[1]
    assert seen == [LABELS, dict(annotated.labels)]


def test_run_delivers_in_the_background_and_close_is_bounded(tmp_path: Path) -> None:
    """With run() as a task, a submit is delivered without a manual step; close() stops it."""
    server = Server()

    async def body() -> None:
        notifier = make(
            tmp_path / "db",
            server,
            chosen=[SlackReceiver("slack", SLACK_URL)],
            clock=lambda: T0,
            poll_interval=30.0,
        )
        task = asyncio.create_task(notifier.run())
        await asyncio.sleep(0)
        notifier.submit([firing()], T0)
        for _ in range(200):
            if server.requests:
                break
            await asyncio.sleep(0.01)
        await asyncio.wait_for(notifier.close(grace=2.0), timeout=5.0)
        assert task.done()

    run(body())
    assert len(server.requests) == 1


def test_from_config_over_a_store(tmp_path: Path) -> None:
    """The daemon's wiring: configuration, Store, registry; metrics exist before any alert."""
    store = Store(tmp_path / "driftmon.db")
    config = AlertingConfig.model_validate(
        {
            "resend_delay": "2m",
            "receivers": [
                {"kind": "alertmanager", "urls": ["http://am.test:9093"]},
                {"kind": "slack", "url_env": "SLACK_URL"},
            ],
        }
    )
    registry = CollectorRegistry()
    server = Server()

    async def body() -> None:
        notifier = Notifier.from_config(
            config,
            store,
            evaluation_interval=30.0,
            public_url="http://pod:9844",
            registry=registry,
            transport=httpx.MockTransport(server.handle),
            environ={"SLACK_URL": SLACK_URL},
        )
        assert notifier.timing.valid_for == 480.0
        await step(notifier, [firing()], T0)
        await notifier.close()

    run(body())
    store.close()
    assert (
        registry.get_sample_value("driftmon_notifications_total", {"receiver": "slack", "outcome": "sent"})
        == 1
    )
    assert (
        registry.get_sample_value(
            "driftmon_notifications_total", {"receiver": "alertmanager", "outcome": "failed"}
        )
        == 0
    )
    assert server.bodies("am.test")[0][0]["endsAt"] == rfc3339(T0 + 480.0)


@pytest.mark.parametrize(("mode", "sent"), [("local", 1), ("both", 1), ("prometheus", 0)])
def test_alerting_mode_prometheus_keeps_the_receivers_silent(tmp_path: Path, mode: str, sent: int) -> None:
    """alerting.mode: prometheus (a fleet: Prometheus pages) sends nothing from the daemon;
    local and both notify as configured."""
    store = Store(tmp_path / "driftmon.db")
    config = AlertingConfig.model_validate(
        {"mode": mode, "receivers": [{"kind": "slack", "url_env": "SLACK_URL"}]}
    )
    server = Server()

    async def body() -> None:
        notifier = Notifier.from_config(
            config, store, evaluation_interval=30.0, public_url="http://pod:9844",
            transport=httpx.MockTransport(server.handle), environ={"SLACK_URL": SLACK_URL},
        )
        await step(notifier, [firing()], T0)
        await notifier.close()

    run(body())
    store.close()
    assert len(server.requests) == sent


def test_store_failure_on_submit_is_reported_and_retried(tmp_path: Path) -> None:
    """If the outbox cannot be written, submit raises StoreError and the next submit retries."""
    from driftmon.errors import StoreError

    server = Server()
    conn = connect(tmp_path / "db")

    async def body() -> None:
        notifier = Notifier(
            [SlackReceiver("slack", SLACK_URL)], conn, transport=httpx.MockTransport(server.handle)
        )
        conn.execute("DROP TABLE alert_notification_state")
        with pytest.raises(StoreError):
            notifier.submit([firing()], T0)
        conn.execute(
            "CREATE TABLE alert_notification_state (receiver TEXT, fingerprint TEXT, status TEXT,"
            " starts_at REAL, queued_at REAL, PRIMARY KEY (receiver, fingerprint))"
        )
        assert notifier.submit([firing()], T0 + 30) == 1
        await notifier.deliver_due(T0 + 30)
        await notifier.close()

    run(body())
    assert len(server.requests) == 1


def test_resolved_states_are_forgotten_but_firing_ones_kept(tmp_path: Path) -> None:
    """Long after a resolution its state is pruned; a still-firing alert's state is never pruned."""
    server = Server()
    other = {"alertname": "LatencyHigh", "severity": "page"}

    async def body() -> None:
        notifier = make(tmp_path / "db", server, chosen=[PagerDutyReceiver("pd", PD_KEY)])
        await step(notifier, [firing(), firing(labels=other)], T0)
        await step(notifier, [resolved(), firing(labels=other)], T0 + 600)
        await step(notifier, [firing(labels=other)], T0 + 600 + 900 + 3601)
        await notifier.close()

    run(body())
    states = connect(tmp_path / "db").execute("SELECT fingerprint, status FROM alert_notification_state")
    assert [tuple(row) for row in states] == [(firing(labels=other).fingerprint, "firing")]
    assert [b["event_action"] for b in server.bodies()] == ["trigger", "trigger", "resolve"]


def test_notifications_for_a_removed_receiver_are_discarded(tmp_path: Path) -> None:
    """Rows queued for a receiver no longer configured are dropped, not sent elsewhere."""
    server = Server()
    server.down()

    async def first() -> None:
        notifier = make(tmp_path / "db", server, chosen=[SlackReceiver("old-slack", SLACK_URL)])
        await step(notifier, [firing()], T0)
        await notifier.close()

    async def second() -> dict[str, int]:
        server.up()
        notifier = make(tmp_path / "db", server, chosen=[WebhookReceiver("hook", "http://hook.test/in")])
        await notifier.deliver_due(T0 + 10)
        depth = notifier.queue_depth()
        await notifier.close()
        return depth

    run(first())
    assert run(second()) == {}
    assert [r.url.host for r in server.requests] == ["hooks.slack.test"]


def test_a_failing_overlay_callable_does_not_stop_the_page(tmp_path: Path) -> None:
    """If computing the overlay link raises, the message goes out without that link."""
    server = Server()

    def broken(labels: Any) -> str:
        raise RuntimeError("store closed")

    async def body() -> None:
        notifier = make(
            tmp_path / "db", server, chosen=[SlackReceiver("slack", SLACK_URL)], overlay_url=broken
        )
        await step(notifier, [firing()], T0)
        await notifier.close()

    run(body())
    (message,) = server.bodies()
    assert "Worst recent sample" not in message["blocks"][0]["text"]["text"]


def test_overlapping_delivery_rounds_do_not_send_twice(tmp_path: Path) -> None:
    """A deliver_due call while another is in flight sends nothing; the row goes out once."""
    server = Server()

    async def body() -> list[int]:
        gate = asyncio.Event()

        async def slow(request: httpx.Request) -> httpx.Response:
            server.requests.append(request)
            await gate.wait()
            return httpx.Response(200)

        notifier = Notifier(
            [SlackReceiver("slack", SLACK_URL)], connect(tmp_path / "db"), transport=httpx.MockTransport(slow)
        )
        notifier.submit([firing()], T0)
        first = asyncio.create_task(notifier.deliver_due(T0))
        await asyncio.sleep(0.01)
        second = await notifier.deliver_due(T0)
        gate.set()
        sent = [await first, second]
        await notifier.close()
        return sent

    assert run(body()) == [1, 0]
    assert len(server.requests) == 1
