"""The `rule_baselines` table: at most one pinned baseline, its readings as compressed JSON."""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: one pinned reading: time, labels, the signals that had a value
PinnedReading = tuple[float, Mapping[str, str], Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class PinnedRows:
    """The stored pin: its model version, the span of its readings, when it was pinned, them."""

    model_version: str
    since: float
    until: float
    pinned_at: float
    count: int
    readings: list[PinnedReading]


class BaselineTable:
    """Writes, reads and removes the one pinned baseline through one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def save(
        self,
        model_version: str,
        since: float,
        until: float,
        pinned_at: float,
        readings: Sequence[PinnedReading],
    ) -> None:
        """Store the pin, replacing any previous one."""
        data = [[ts, dict(labels), dict(values)] for ts, labels, values in readings]
        blob = zlib.compress(json.dumps(data, separators=(",", ":")).encode())
        self._conn.execute(
            "INSERT OR REPLACE INTO rule_baselines VALUES (1, ?, ?, ?, ?, ?, ?)",
            (model_version, since, until, pinned_at, len(readings), blob),
        )

    def delete(self) -> bool:
        """Remove the pin; returns whether there was one."""
        return self._conn.execute("DELETE FROM rule_baselines").rowcount > 0

    def pinned_at(self) -> float | None:
        """When the stored pin was made (a cheap change stamp), or None without a pin."""
        row = self._conn.execute("SELECT pinned_at FROM rule_baselines").fetchone()
        return None if row is None else float(row[0])

    def load(self) -> PinnedRows | None:
        """The stored pin with its readings, or None."""
        row = self._conn.execute(
            "SELECT model_version, since, until, pinned_at, readings, data FROM rule_baselines"
        ).fetchone()
        if row is None:
            return None
        readings = [(ts, labels, values) for ts, labels, values in json.loads(zlib.decompress(row[5]))]
        return PinnedRows(row[0], float(row[1]), float(row[2]), float(row[3]), int(row[4]), readings)
