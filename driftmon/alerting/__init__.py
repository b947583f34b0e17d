"""Alert delivery: a durable outbox in the store and one module per receiver.

Notifier                 submit(alerts, now) after each evaluation; run() delivers; close()
├── policy               what to send when (pure): resend every resend_delay, transitions once
├── outbox               driftmon.store.outbox: tables alert_outbox and alert_notification_state
├── backoff              exponential backoff with jitter (injected RNG)
└── receivers            alertmanager (API v2, HA peers), slack, pagerduty (Events v2),
                         webhook (Alertmanager webhook JSON v4); each module holds its
                         <Kind>Config and <Kind>Receiver and registers them in RECEIVER_KINDS
"""

from driftmon.alerting.alertmanager import AlertmanagerConfig, AlertmanagerReceiver
from driftmon.alerting.backoff import Backoff
from driftmon.alerting.base import RECEIVER_KINDS, Receiver, RenderContext, Route, register_receiver, rfc3339
from driftmon.alerting.metrics import NotifierMetrics
from driftmon.alerting.notifier import Notifier, OverlayURL, build_receivers
from driftmon.alerting.pagerduty import PagerDutyConfig, PagerDutyReceiver
from driftmon.alerting.policy import Timing, decide
from driftmon.alerting.slack import SlackConfig, SlackReceiver
from driftmon.alerting.webhook import WebhookConfig, WebhookReceiver
from driftmon.store.outbox import Outbox, SentState

__all__ = [
    "RECEIVER_KINDS",
    "AlertmanagerConfig",
    "AlertmanagerReceiver",
    "Backoff",
    "Notifier",
    "NotifierMetrics",
    "Outbox",
    "OverlayURL",
    "PagerDutyConfig",
    "PagerDutyReceiver",
    "Receiver",
    "RenderContext",
    "Route",
    "SentState",
    "SlackConfig",
    "SlackReceiver",
    "Timing",
    "WebhookConfig",
    "WebhookReceiver",
    "build_receivers",
    "decide",
    "register_receiver",
    "rfc3339",
]
