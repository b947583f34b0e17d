"""The durable alert outbox and the notification state, two tables of the store's database.

A notification is written here (with the new notification state, in one transaction) before
any attempt to send it, and deleted only after the receiver accepted it, so neither a receiver
outage nor a restart loses it. Rows of one endpoint are sent in insertion order.

- `alert_outbox`: one row per queued notification per endpoint. Transition receivers (Slack,
  PagerDuty, webhook) are keyed by receiver, endpoint and transition, so a transition is queued
  once. Alertmanager rows are keyed by alert fingerprint: a newer state of the alert replaces the
  queued one (its `revision` grows, so a delivery of the older payload does not delete it).
- `alert_notification_state`: per receiver and alert, the last state queued (firing or resolved),
  its `startsAt` and when it was queued, so a restart neither re-pages nor re-sends early.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftmon.alerting.base import Event, Payload

_UPSERT = """
INSERT INTO alert_outbox (receiver, target, dedup, fingerprint, event, payload, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (receiver, target, dedup) DO UPDATE SET
    event = excluded.event, payload = excluded.payload,
    created_at = excluded.created_at, revision = revision + 1
"""
_INSERT_ONCE = """
INSERT OR IGNORE INTO alert_outbox (receiver, target, dedup, fingerprint, event, payload, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""


@dataclass(frozen=True, slots=True)
class SentState:
    """The last notification queued for one alert at one receiver."""

    status: Event
    starts_at: float
    queued_at: float


@dataclass(frozen=True, slots=True)
class Queued:
    """A notification to write: `replace` True lets it supersede a queued one with its `dedup`."""

    receiver: str
    target: int
    dedup: str
    fingerprint: str
    event: Event
    payload: Payload
    created_at: float
    replace: bool


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A notification waiting in the outbox."""

    id: int
    receiver: str
    target: int
    event: Event
    payload: Payload
    created_at: float
    revision: int
    attempts: int


class Outbox:
    """The two tables over one connection; safe to call from several threads."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.RLock()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def states(self) -> dict[tuple[str, str], SentState]:
        """Every stored notification state, keyed by (receiver, fingerprint)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT receiver, fingerprint, status, starts_at, queued_at FROM alert_notification_state"
            ).fetchall()
        return {(r[0], r[1]): SentState(r[2], r[3], r[4]) for r in rows}

    def record(
        self,
        queued: Iterable[Queued],
        states: Iterable[tuple[str, str, SentState]],
    ) -> None:
        """Write notifications and the states they lead to, all or nothing."""
        with self._transaction() as conn:
            for item in queued:
                sql = _UPSERT if item.replace else _INSERT_ONCE
                row = (item.receiver, item.target, item.dedup, item.fingerprint, item.event)
                conn.execute(sql, (*row, json.dumps(item.payload), item.created_at))
            for receiver, fingerprint, state in states:
                conn.execute(
                    "INSERT OR REPLACE INTO alert_notification_state VALUES (?, ?, ?, ?, ?)",
                    (receiver, fingerprint, state.status, state.starts_at, state.queued_at),
                )

    def forget_states(self, keys: Iterable[tuple[str, str]]) -> None:
        """Delete notification states (of alerts long resolved)."""
        with self._transaction() as conn:
            conn.executemany(
                "DELETE FROM alert_notification_state WHERE receiver = ? AND fingerprint = ?",
                list(keys),
            )

    def endpoints(self) -> list[tuple[str, int]]:
        """The (receiver, target) pairs that have queued notifications."""
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT receiver, target FROM alert_outbox").fetchall()
        return [(r[0], r[1]) for r in rows]

    def head(self, receiver: str, target: int, limit: int) -> list[OutboxRow]:
        """The oldest `limit` notifications queued for one endpoint."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, receiver, target, event, payload, created_at, revision, attempts "
                "FROM alert_outbox WHERE receiver = ? AND target = ? ORDER BY id LIMIT ?",
                (receiver, target, limit),
            ).fetchall()
        return [OutboxRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7]) for r in rows]

    def remove(self, rows: Iterable[OutboxRow]) -> int:
        """Delete delivered (or dropped) rows unless a newer revision replaced them meanwhile."""
        with self._transaction() as conn:
            removed = 0
            for row in rows:
                cursor = conn.execute(
                    "DELETE FROM alert_outbox WHERE id = ? AND revision = ?", (row.id, row.revision)
                )
                removed += cursor.rowcount
        return removed

    def failed(self, rows: Iterable[OutboxRow], error: str) -> None:
        """Count a failed attempt on each row and keep the (redacted) error."""
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE alert_outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                [(error, row.id) for row in rows],
            )

    def depth(self) -> dict[str, int]:
        """Queued notifications per receiver."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT receiver, COUNT(*) FROM alert_outbox GROUP BY receiver"
            ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def rows(self) -> list[dict[str, Any]]:
        """Every queued row, oldest first (for inspection and tests)."""
        with self._lock:
            cursor = self._conn.execute("SELECT * FROM alert_outbox ORDER BY id")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
