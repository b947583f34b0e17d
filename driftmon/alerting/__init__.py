"""Alert delivery: a durable outbox in the store and one module per receiver.

Notifier                 submit(alerts, now) after each evaluation; run() delivers; close()
├── policy               what to send when (pure): resend every resend_delay, transitions once
├── outbox               driftmon.store.outbox: tables alert_outbox and alert_notification_state
├── backoff              exponential backoff with jitter (injected RNG)
└── receivers            alertmanager (API v2, HA peers), slack, pagerduty (Events v2),
                         webhook (Alertmanager webhook JSON v4)
"""

from driftmon.alerting.alertmanager import AlertmanagerTarget
from driftmon.alerting.backoff import Backoff
from driftmon.alerting.base import Receiver, RenderContext, Route, rfc3339
from driftmon.alerting.metrics import NotifierMetrics
from driftmon.alerting.notifier import Notifier, OverlayURL, build_receivers
from driftmon.alerting.pagerduty import PagerDutyTarget
from driftmon.alerting.policy import Timing, decide
from driftmon.alerting.slack import SlackTarget
from driftmon.alerting.webhook import WebhookTarget
from driftmon.store.outbox import Outbox, SentState

__all__ = [
    "AlertmanagerTarget",
    "Backoff",
    "Notifier",
    "NotifierMetrics",
    "Outbox",
    "OverlayURL",
    "PagerDutyTarget",
    "Receiver",
    "RenderContext",
    "Route",
    "SentState",
    "SlackTarget",
    "Timing",
    "WebhookTarget",
    "build_receivers",
    "decide",
    "rfc3339",
]
