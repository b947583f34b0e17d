"""The `rule_alert_state` table: one row per alert instance per rule (see `driftmon.rules.state`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from driftmon.alerts import Alert


@dataclass(frozen=True, slots=True)
class AlertStateRow:
    """One persisted alert instance of one rule."""

    rule: str
    fingerprint: str
    alert: Alert
    keep_firing_since: float | None


#: the table has one column per field of `Alert`, named as the field
_ALERT_COLUMNS = tuple(f.name for f in fields(Alert))
#: the columns that hold a mapping, as JSON
_JSON_COLUMNS = frozenset({"labels", "annotations"})
_COLUMNS = ("rule", "fingerprint", *_ALERT_COLUMNS, "keep_firing_since")
_INSERT = f"INSERT INTO rule_alert_state ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


class AlertStateTable:
    """Reads and rewrites the `rule_alert_state` table through one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self) -> list[AlertStateRow]:
        """Every stored instance."""
        return [_from_row(row) for row in self._conn.execute("SELECT * FROM rule_alert_state")]

    def replace(self, rule: str, rows: Iterable[AlertStateRow]) -> None:
        """Make `rows` the rule's only rows, in one transaction."""
        values = [(rule, r.fingerprint, *_alert_values(r.alert), r.keep_firing_since) for r in rows]
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM rule_alert_state WHERE rule = ?", (rule,))
            self._conn.executemany(_INSERT, values)


def _alert_values(alert: Alert) -> list[Any]:
    return [_to_column(name, getattr(alert, name)) for name in _ALERT_COLUMNS]


def _from_row(row: sqlite3.Row) -> AlertStateRow:
    alert = Alert(**{name: _from_column(name, row[name]) for name in _ALERT_COLUMNS})
    return AlertStateRow(row["rule"], row["fingerprint"], alert, row["keep_firing_since"])


def _to_column(name: str, value: Any) -> Any:
    return json.dumps(dict(value)) if name in _JSON_COLUMNS else value


def _from_column(name: str, value: Any) -> Any:
    return json.loads(value) if name in _JSON_COLUMNS else value
