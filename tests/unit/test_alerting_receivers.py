"""Payloads of each receiver, routing by labels, and secrets kept out of sight."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from driftmon.alerting.alertmanager import AlertmanagerReceiver
from driftmon.alerting.base import RenderContext, Route, classify, redact, rfc3339
from driftmon.alerting.notifier import build_receivers
from driftmon.alerting.pagerduty import PagerDutyReceiver, dedup_key
from driftmon.alerting.slack import SlackReceiver, duration, escape
from driftmon.alerting.webhook import ZERO_TIME, WebhookReceiver, group_key
from driftmon.alerts import Alert
from driftmon.config import AlertingConfig
from driftmon.errors import ConfigError
from driftmon.secrets import read_secret

LABELS = {"alertname": "TextFidelityLow", "model_version": "v2", "severity": "page"}
ANNOTATIONS = {
    "summary": "Text fidelity 0.63 on v2",
    "description": "Mean fidelity below 0.85 for 5m",
    "runbook_url": "https://runbooks.example/fidelity",
}
CTX = RenderContext(
    now=1000.0,
    generator_url="http://driftmon:9844/v1/alerts",
    external_url="http://driftmon:9844",
    valid_for=240.0,
    overlay_url="http://driftmon:9844/v1/samples/abc/overlay.png",
)
FIRING = Alert(LABELS, ANNOTATIONS, "firing", active_at=600.0, fired_at=900.0, value=0.63)
RESOLVED = Alert(LABELS, ANNOTATIONS, "inactive", 600.0, 900.0, resolved_at=1650.0, value=0.9)


def test_rfc3339_is_utc_with_milliseconds() -> None:
    """Times go out as RFC 3339 in UTC, as Alertmanager expects."""
    assert rfc3339(0.25) == "1970-01-01T00:00:00.250Z"


def test_alertmanager_firing_endsat_is_set_when_sent() -> None:
    """A firing alert's endsAt is the send time plus the validity; private keys do not leak."""
    am = AlertmanagerReceiver("am", ("http://am1:9093", "http://am2:9093/"))
    payload = am.render(FIRING, "firing", CTX)
    request = am.request(1, [payload], now=1030.0)
    assert request.url == "http://am2:9093/api/v2/alerts"
    assert request.json == [
        {
            "labels": LABELS,
            "annotations": ANNOTATIONS,
            "startsAt": rfc3339(900.0),
            "endsAt": rfc3339(1030.0 + 240.0),
            "generatorURL": CTX.generator_url,
        }
    ]


def test_alertmanager_resolved_carries_its_resolve_time() -> None:
    """A resolved alert is sent with endsAt = when it resolved, not when it is sent."""
    am = AlertmanagerReceiver("am", ("http://am:9093",))
    payload = am.render(RESOLVED, "resolved", CTX)
    (sent,) = am.request(0, [payload], now=1700.0).json
    assert sent["endsAt"] == rfc3339(1650.0)
    assert sent["startsAt"] == rfc3339(900.0)


def test_slack_firing_message_has_value_and_links() -> None:
    """The firing message shows the value, summary, runbook and overlay links."""
    slack = SlackReceiver("slack", "https://hooks.slack.test/T/B/x", channel="#oncall")
    message = slack.render(FIRING, "firing", CTX)
    body = message["blocks"][0]["text"]["text"]
    assert message["text"].startswith(":rotating_light: FIRING: TextFidelityLow")
    assert message["channel"] == "#oncall"
    assert "*Value:* 0.63" in body
    assert "<https://runbooks.example/fidelity|Runbook>" in body
    assert f"<{CTX.overlay_url}|Worst recent sample>" in body
    assert ANNOTATIONS["summary"] in body


def test_slack_resolved_message_says_how_long_it_lasted() -> None:
    """The resolved message gives the last value and the incident's duration."""
    body = SlackReceiver("slack", "u").render(RESOLVED, "resolved", CTX)["blocks"][0]["text"]["text"]
    assert "RESOLVED: TextFidelityLow" in body
    assert "*Last value:* 0.9" in body
    assert "*Lasted:* 12m 30s" in body


def test_slack_text_is_escaped() -> None:
    """Annotation text cannot inject Slack links or mentions."""
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"
    assert duration(3725) == "1h 2m" and duration(42) == "42s"


def test_pagerduty_trigger_and_resolve_share_a_stable_dedup_key() -> None:
    """Trigger and resolve carry the same dedup_key, derived from the labels only."""
    pd = PagerDutyReceiver("pd", "R0UTINGKEY")
    trigger = pd.request(0, [pd.render(FIRING, "firing", CTX)], 1000.0).json
    resolve = pd.request(0, [pd.render(RESOLVED, "resolved", CTX)], 1700.0).json
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == dedup_key(FIRING)
    assert dedup_key(FIRING) == f"driftmon-{FIRING.fingerprint}"
    assert trigger["routing_key"] == resolve["routing_key"] == "R0UTINGKEY"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["component"] == "v2"
    assert {"href": ANNOTATIONS["runbook_url"], "text": "Runbook"} in trigger["links"]


def test_pagerduty_payload_stored_without_routing_key() -> None:
    """The routing key is added at send time only, so the outbox never stores it."""
    pd = PagerDutyReceiver("pd", "R0UTINGKEY", severity="warning")
    stored = pd.render(Alert({"alertname": "X"}, {}, "firing", 1.0, 1.0), "firing", CTX)
    assert "R0UTINGKEY" not in repr(stored)
    assert stored["payload"]["severity"] == "warning"
    assert "R0UTINGKEY" not in repr(pd)


def test_webhook_message_is_alertmanager_v4() -> None:
    """The generic webhook gets Alertmanager's webhook JSON, one alert per message."""
    hook = WebhookReceiver("hook", "http://hook.test/secret-token")
    firing = hook.render(FIRING, "firing", CTX)
    resolved = hook.render(RESOLVED, "resolved", CTX)
    assert firing["version"] == "4" and firing["status"] == "firing"
    assert firing["groupKey"] == group_key(LABELS) == resolved["groupKey"]
    assert firing["receiver"] == "hook"
    assert firing["commonLabels"] == LABELS
    (item,) = firing["alerts"]
    assert item["endsAt"] == ZERO_TIME and item["fingerprint"] == FIRING.fingerprint
    assert resolved["alerts"][0]["endsAt"] == rfc3339(1650.0)
    assert resolved["status"] == "resolved"
    assert "secret-token" not in repr(hook)


def test_routes_match_labels_exactly_and_by_anchored_regex() -> None:
    """`match` needs equal labels; `match_re` must match the whole label value."""
    page = Route({"severity": "page"})
    assert page.accepts(LABELS)
    assert not page.accepts({"alertname": "X", "severity": "ticket"})
    by_re = Route(match_re={"model_version": re.compile("v[0-9]")})
    assert by_re.accepts(LABELS)
    assert not by_re.accepts({"model_version": "v23"})
    assert Route().accepts({})


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "sent"),
        (202, "sent"),
        (400, "drop"),
        (404, "drop"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_http_status_classification(status: int, outcome: str) -> None:
    """2xx delivered; timeouts, throttling and 5xx retried; other 4xx dropped."""
    assert classify(status) == outcome


def test_secrets_from_file_and_environment(tmp_path: Path) -> None:
    """A secret is read from a file (trimmed) or an environment variable."""
    key = tmp_path / "key"
    key.write_text("from-file\n")
    assert read_secret("r", None, key, None) == "from-file"
    assert read_secret("r", None, None, "PD_KEY", {"PD_KEY": "from-env"}) == "from-env"


def test_missing_secret_names_where_not_what(tmp_path: Path) -> None:
    """A missing file or variable is a ConfigError naming the receiver and the source."""
    with pytest.raises(ConfigError, match=r"receiver pd: .*nope"):
        read_secret("receiver pd", None, tmp_path / "nope", None)
    with pytest.raises(ConfigError, match="PD_KEY is unset"):
        read_secret("receiver pd", None, None, "PD_KEY", {})


def test_redact_hides_every_secret() -> None:
    """Error texts that quote a URL are redacted before they are logged or stored."""
    assert redact("POST https://hooks/x failed", ["https://hooks/x"]) == "POST <redacted> failed"


def test_receivers_built_from_configuration(tmp_path: Path) -> None:
    """Each kind in `alerting.receivers` becomes its receiver, secrets resolved."""
    (tmp_path / "pd").write_text("KEY\n")
    config = AlertingConfig.model_validate(
        {
            "receivers": [
                {"kind": "alertmanager", "urls": ["http://a:9093", "http://b:9093"]},
                {"kind": "slack", "url_env": "SLACK_URL", "match": {"severity": "ticket"}},
                {
                    "kind": "pagerduty",
                    "routing_key_file": str(tmp_path / "pd"),
                    "match_re": {"severity": "page|critical"},
                },
                {"kind": "webhook", "name": "audit", "url": "http://audit/hook"},
            ]
        }
    )
    receivers = build_receivers(config, {"SLACK_URL": "https://hooks.slack.test/1"})
    assert [(r.name, r.kind, r.target_count) for r in receivers] == [
        ("alertmanager", "alertmanager", 2),
        ("slack", "slack", 1),
        ("pagerduty", "pagerduty", 1),
        ("audit", "webhook", 1),
    ]
    assert receivers[2].route.accepts({"severity": "critical"})
    assert receivers[1].secrets() == ("https://hooks.slack.test/1",)


def test_configuration_rejects_ambiguous_or_duplicate_receivers() -> None:
    """Two sources for one secret, or two receivers with one name, fail at load time."""
    with pytest.raises(ValueError, match="exactly one of url, url_file, url_env"):
        AlertingConfig.model_validate({"receivers": [{"kind": "slack", "url": "a", "url_env": "B"}]})
    with pytest.raises(ValueError, match="exactly one of routing_key"):
        AlertingConfig.model_validate({"receivers": [{"kind": "pagerduty"}]})
    with pytest.raises(ValueError, match="two receivers are named 'slack'"):
        AlertingConfig.model_validate(
            {"receivers": [{"kind": "slack", "url": "a"}, {"kind": "slack", "url": "b"}]}
        )


def test_inline_secret_is_hidden_in_configuration_repr() -> None:
    """An inline URL is a SecretStr: printing the configuration does not reveal it."""
    config = AlertingConfig.model_validate({"receivers": [{"kind": "slack", "url": "https://s/T0K"}]})
    assert "T0K" not in repr(config) and "T0K" not in str(config.model_dump())
