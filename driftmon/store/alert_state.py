"""The `rule_alert_state` table: one row per alert instance per rule (see `driftmon.rules.state`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from driftmon.alerts import AlertState


@dataclass(frozen=True, slots=True)
class AlertStateRow:
    """One persisted alert instance of one rule."""

    rule: str
    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: AlertState
    active_at: float
    fired_at: float | None
    resolved_at: float | None
    value: float | None
    keep_firing_since: float | None
    last_evaluated_at: float | None


class AlertStateTable:
    """Reads and rewrites the `rule_alert_state` table through one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self) -> list[AlertStateRow]:
        """Every stored instance."""
        return [_from_row(row) for row in self._conn.execute("SELECT * FROM rule_alert_state")]

    def replace(self, rule: str, rows: Iterable[AlertStateRow]) -> None:
        """Make `rows` the rule's only rows, in one transaction."""
        values = [
            (
                rule, r.fingerprint, json.dumps(dict(r.labels)), json.dumps(dict(r.annotations)), r.state,
                r.active_at, r.fired_at, r.resolved_at, r.value, r.keep_firing_since, r.last_evaluated_at,
            )
            for r in rows
        ]  # fmt: skip
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM rule_alert_state WHERE rule = ?", (rule,))
            self._conn.executemany("INSERT INTO rule_alert_state VALUES (?,?,?,?,?,?,?,?,?,?,?)", values)


def _from_row(row: sqlite3.Row) -> AlertStateRow:
    return AlertStateRow(
        rule=row["rule"],
        fingerprint=row["fingerprint"],
        labels=json.loads(row["labels"]),
        annotations=json.loads(row["annotations"]),
        state=row["state"],
        active_at=row["active_at"],
        fired_at=row["fired_at"],
        resolved_at=row["resolved_at"],
        value=row["value"],
        keep_firing_since=row["keep_firing_since"],
        last_evaluated_at=row["last_evaluated_at"],
    )
