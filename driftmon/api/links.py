"""The links an alert carries (docs/alerting.md, "Pages that carry the picture"). Pure.

Rule annotations write links with two placeholders, resolved where the alert is built:

    ${DRIFTMON_URL}   driftmon's public URL: `server.public_url` (or http://<host>:<port>) for the
                      daemon's own alerts; the chart's `publicUrl` (a Service or Ingress that
                      reaches any pod) in the exported PrometheusRule
    ${DASHBOARD_URL}  the Grafana dashboard: `alerting.dashboard_url`; the chart's `dashboard.url`

Exported rules link `overlay_url` to ``/v1/samples/worst?model_version=…``, which whichever pod
answers redirects to its worst recent failing sample; the daemon's own alerts link the exact
sample instead (`worst_failing` on its own store).
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from driftmon.rules.templates import parse_template
from driftmon.samples import ScoredSample
from driftmon.signals import TEXT_FIDELITY

if TYPE_CHECKING:
    from driftmon.config import AlertingConfig, ServerConfig
    from driftmon.rules.model import Rule, RuleSet

DRIFTMON_URL = "${DRIFTMON_URL}"
DASHBOARD_URL = "${DASHBOARD_URL}"
#: the Grafana dashboard's uid (helm/dashboard.py); the default dashboard URL's path
DASHBOARD_PATH = "/d/driftmon-overview/driftmon"


def resolve(text: str, driftmon_url: str, dashboard_url: str) -> str:
    """`text` with both placeholders replaced (trailing slashes of the bases dropped)."""
    return text.replace(DRIFTMON_URL, driftmon_url.rstrip("/")).replace(
        DASHBOARD_URL, dashboard_url.rstrip("/")
    )


def resolve_all(annotations: Mapping[str, str], driftmon_url: str, dashboard_url: str) -> dict[str, str]:
    return {name: resolve(text, driftmon_url, dashboard_url) for name, text in annotations.items()}


def worst_failing(samples: Iterable[ScoredSample]) -> ScoredSample | None:
    """The failing sample with a kept picture and the lowest text fidelity, or None."""
    candidates = [
        s for s in samples if s.failing and s.overlay_path and s.scores.get(TEXT_FIDELITY) is not None
    ]
    return min(candidates, key=lambda s: s.scores[TEXT_FIDELITY] or 0.0, default=None)


def overlay_path(sample: ScoredSample) -> str:
    return f"/v1/samples/{sample.id}/overlay.png"


def with_links(ruleset: RuleSet, driftmon_url: str, dashboard_url: str) -> RuleSet:
    """`ruleset` with the placeholders of every annotation resolved (the daemon's own alerts)."""

    def rule(r: Rule) -> Rule:
        annotations = {
            name: parse_template(resolve(t.source, driftmon_url, dashboard_url))
            for name, t in r.annotations.items()
        }
        return dataclasses.replace(r, annotations=annotations)

    groups = tuple(dataclasses.replace(g, rules=tuple(rule(r) for r in g.rules)) for g in ruleset.groups)
    return dataclasses.replace(ruleset, groups=groups)


def links_of(server: ServerConfig, alerting: AlertingConfig) -> tuple[str, str]:
    """(driftmon's public URL, the dashboard's URL) for the daemon's own alerts."""
    host = server.host if server.host not in ("0.0.0.0", "::", "") else socket.gethostname()
    driftmon = server.public_url or f"http://{host}:{server.port}"
    return driftmon.rstrip("/"), alerting.dashboard_url.rstrip("/")
