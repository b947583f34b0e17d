"""The alert value passed from the rule engine (driftmon.rules) to delivery (driftmon.alerting)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

AlertState = Literal["pending", "firing", "inactive"]


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable identity for an alert: a hash of its sorted labels (as Alertmanager does)."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert instance (one rule × one label set) at one evaluation.

    `state` "inactive" with `resolved_at` set means resolved; the engine keeps such alerts for
    15 minutes so delivery can re-send the resolution. Times are Unix seconds.
    """

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: AlertState
    active_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    value: float | None = None
    last_evaluated_at: float | None = None

    @property
    def name(self) -> str:
        return self.labels["alertname"]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)
