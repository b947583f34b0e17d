"""Alert states persisted in the store's database (like Prometheus's ``ALERTS_FOR_STATE``).

After a restart the engine resumes each pending or firing instance with its original
`active_at` and `fired_at`, so an incident neither disappears nor pages again with a new
``startsAt``. Rows are rewritten only when something that matters for that changes (state or
times), not on every evaluation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from driftmon.rules.engine import RESOLVED_RETENTION, Instance, States
from driftmon.store.alert_state import AlertStateRow, AlertStateTable


def _essence(states: Mapping[str, Instance]) -> dict[str, tuple[object, ...]]:
    return {
        fp: (
            i.alert.state,
            i.alert.active_at,
            i.alert.fired_at,
            i.alert.resolved_at,
            i.keep_firing_since,
            tuple(sorted(i.alert.labels.items())),
        )
        for fp, i in states.items()
    }


def _instance(row: AlertStateRow) -> Instance:
    return Instance(row.alert, row.keep_firing_since)


def _row(rule: str, fingerprint: str, i: Instance) -> AlertStateRow:
    return AlertStateRow(rule, fingerprint, i.alert, i.keep_firing_since)


class AlertStateStore:
    """Restores and saves alert instances through the store's `rule_alert_state` table."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._table = AlertStateTable(conn)
        self._saved: dict[str, dict[str, tuple[object, ...]]] = {}

    def load(self, now: float) -> dict[str, States]:
        """Every persisted instance by rule key; resolved ones past their 15 minutes are dropped."""
        out: dict[str, States] = {}
        for row in self._table.rows():
            inst = _instance(row)
            if inst.alert.state == "inactive" and (inst.alert.resolved_at or 0.0) + RESOLVED_RETENTION <= now:
                continue
            out.setdefault(row.rule, {})[row.fingerprint] = inst
        self._saved = {rule: _essence(states) for rule, states in out.items()}
        return out

    def save(self, rule: str, states: Mapping[str, Instance]) -> bool:
        """Persist one rule's instances if they changed; returns whether it wrote."""
        essence = _essence(states)
        if self._saved.get(rule, {}) == essence:
            return False
        self._table.replace(rule, [_row(rule, fp, i) for fp, i in states.items()])
        self._saved[rule] = essence
        return True

    def forget_except(self, rules: set[str]) -> None:
        """Drop the rows of rules that no longer exist (after a reload)."""
        for rule in set(self._saved) - rules:
            self.save(rule, {})
            self._saved.pop(rule, None)
