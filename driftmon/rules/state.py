"""Alert states persisted in the store's database (like Prometheus's ``ALERTS_FOR_STATE``).

After a restart the engine resumes each pending or firing instance with its original
`active_at` and `fired_at`, so an incident neither disappears nor pages again with a new
``startsAt``. Rows are rewritten only when something that matters for that changes (state or
times), not on every evaluation.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping

from driftmon.rules.engine import RESOLVED_RETENTION, Instance, States

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rule_alert_state (
    rule TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    state TEXT NOT NULL,
    active_at REAL NOT NULL,
    fired_at REAL,
    resolved_at REAL,
    value REAL,
    keep_firing_since REAL,
    last_evaluated_at REAL,
    PRIMARY KEY (rule, fingerprint)
);
"""


def _essence(states: Mapping[str, Instance]) -> dict[str, tuple[object, ...]]:
    return {
        fp: (
            i.state,
            i.active_at,
            i.fired_at,
            i.resolved_at,
            i.keep_firing_since,
            tuple(sorted(i.labels.items())),
        )
        for fp, i in states.items()
    }


class AlertStateStore:
    """Reads and writes the `rule_alert_state` table through one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._conn.executescript(_SCHEMA)
        self._saved: dict[str, dict[str, tuple[object, ...]]] = {}

    def load(self, now: float) -> dict[str, States]:
        """Every persisted instance by rule key; resolved ones past their 15 minutes are dropped."""
        out: dict[str, States] = {}
        for row in self._conn.execute("SELECT * FROM rule_alert_state"):
            inst = Instance(
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
            if inst.state == "inactive" and (inst.resolved_at or 0.0) + RESOLVED_RETENTION <= now:
                continue
            out.setdefault(row["rule"], {})[row["fingerprint"]] = inst
        self._saved = {rule: _essence(states) for rule, states in out.items()}
        return out

    def save(self, rule: str, states: Mapping[str, Instance]) -> bool:
        """Persist one rule's instances if they changed; returns whether it wrote."""
        essence = _essence(states)
        if self._saved.get(rule, {}) == essence:
            return False
        rows = [
            (
                rule, fp, json.dumps(dict(i.labels)), json.dumps(dict(i.annotations)), i.state, i.active_at,
                i.fired_at, i.resolved_at, i.value, i.keep_firing_since, i.last_evaluated_at,
            )
            for fp, i in states.items()
        ]  # fmt: skip
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM rule_alert_state WHERE rule = ?", (rule,))
            self._conn.executemany("INSERT INTO rule_alert_state VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        self._saved[rule] = essence
        return True

    def forget_except(self, rules: set[str]) -> None:
        """Drop the rows of rules that no longer exist (after a reload)."""
        for rule in set(self._saved) - rules:
            self.save(rule, {})
            self._saved.pop(rule, None)
