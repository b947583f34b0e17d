"""The samples table: scored samples with retention by age, read back as rule readings.

The other tables of the same database file (rule state, baselines, the alert outbox) have their
own repositories in `driftmon.store`, each over a connection from `Store.connect()`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from driftmon.errors import StoreError
from driftmon.privacy import PromptPolicy, stored_form
from driftmon.samples import SampleMeta, ScoredSample
from driftmon.store.db import connect

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reading:
    """One stored sample as the rule engine sees it: time, labels, numeric signals."""

    ts: float
    labels: Mapping[str, str]
    values: Mapping[str, float | None]
    #: the scorer that scored it (None: not recorded by whoever wrote the row)
    scorer_version: str | None = None


@dataclass(frozen=True, slots=True)
class VersionSpan:
    """One model version in the samples table: how many samples, first and last seen."""

    model_version: str
    samples: int
    first_seen: float
    last_seen: float


def version_spans(conn: sqlite3.Connection, scorer_version: str | None = None) -> list[VersionSpan]:
    """Every model version in the samples table, the first seen first; with `scorer_version`,
    counting only the samples that scorer scored (and those whose scorer was not recorded)."""
    where, args = (
        ("", ())
        if scorer_version is None
        else (" WHERE scorer_version IS NULL OR scorer_version = ?", (scorer_version,))
    )
    rows = conn.execute(
        "SELECT model_version, COUNT(*), MIN(ts), MAX(ts) FROM samples"
        f"{where} GROUP BY model_version ORDER BY MIN(ts)",
        args,
    ).fetchall()
    return [VersionSpan(row[0], int(row[1]), float(row[2]), float(row[3])) for row in rows]


def reading_values(sample: ScoredSample) -> dict[str, float | None]:
    """The numeric signals of a scored sample: its scores plus latency and steps."""
    values = dict(sample.scores)
    values["latency_seconds"] = sample.meta.latency_seconds
    values["steps"] = None if sample.meta.steps is None else float(sample.meta.steps)
    return values


class Store:
    """The samples table; every write is retried with backoff before StoreError is raised."""

    def __init__(
        self,
        path: Path | str,
        write_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        prompts: PromptPolicy = "full",
    ) -> None:
        self.path = Path(path)
        #: what of a prompt is stored (`store.prompts`, driftmon.privacy)
        self.prompts: PromptPolicy = prompts
        self.write_retries = write_retries
        self.write_failures = 0
        self._sleep = sleep
        self._lock = threading.RLock()
        try:
            self._conn = connect(self.path)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open store: {exc}") from exc

    def connect(self) -> sqlite3.Connection:
        """A new connection to the same database, for the repositories of the other tables."""
        return connect(self.path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _write(self, action: Callable[[sqlite3.Connection], T]) -> T:
        delay = 0.05
        for attempt in range(self.write_retries + 1):
            try:
                with self._lock:
                    return action(self._conn)
            except sqlite3.OperationalError as exc:
                self.write_failures += 1
                if attempt == self.write_retries:
                    raise StoreError(f"{self.path}: write failed after retries: {exc}") from exc
                self._sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def add(self, sample: ScoredSample) -> None:
        """Insert (or replace) one scored sample."""
        row = _row(stored_form(sample, self.prompts))
        self._write(lambda conn: conn.execute(f"INSERT OR REPLACE INTO samples VALUES {_ROW}", row))

    def add_once(self, sample: ScoredSample) -> bool:
        """Insert one scored sample unless its id has a row already; True when inserted (the
        daemon's exactly-once commit: the sample id is the journal entry's key)."""
        row = _row(stored_form(sample, self.prompts))
        cursor = self._write(lambda conn: conn.execute(f"INSERT OR IGNORE INTO samples VALUES {_ROW}", row))
        return cursor.rowcount == 1

    def has(self, sample_id: str) -> bool:
        """Whether the sample has a row."""
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM samples WHERE id = ?", (sample_id,)).fetchone()
        return row is not None

    def delete_older_than(self, cutoff: float) -> int:
        """Drop samples received before `cutoff`; returns how many."""
        cursor = self._write(lambda conn: conn.execute("DELETE FROM samples WHERE ts < ?", (cutoff,)))
        return int(cursor.rowcount)

    def get(self, sample_id: str) -> ScoredSample | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM samples WHERE id = ?", (sample_id,)).fetchone()
        return None if row is None else _from_row(row)

    def recent(
        self, limit: int = 50, model_version: str | None = None, before: tuple[float, str] | None = None
    ) -> list[ScoredSample]:
        """The newest samples first (ties by id), optionally of one model version; with `before`
        (a sample's received_at and id), only the samples that come after it in that order."""
        where: list[str] = []
        args: list[Any] = []
        if model_version is not None:
            where.append("model_version = ?")
            args.append(model_version)
        if before is not None:
            where.append("(ts < ? OR (ts = ? AND id < ?))")
            args += [before[0], before[0], before[1]]
        query = "SELECT * FROM samples" + (" WHERE " + " AND ".join(where) if where else "")
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY ts DESC, id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_from_row(row) for row in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def iter_readings(self, since: float, until: float | None = None) -> Iterator[Reading]:
        """Stored samples received in [since, until) as readings, oldest first."""
        conn = self.connect()
        try:
            query = (
                "SELECT ts, source, model_version, labels, scores, latency_seconds, steps, scorer_version"
                " FROM samples WHERE ts >= ?"
            )
            args: tuple[Any, ...] = (since,)
            if until is not None:
                query += " AND ts < ?"
                args = (since, until)
            for row in conn.execute(query + " ORDER BY ts", args):
                labels = {
                    **json.loads(row["labels"]),
                    "source": row["source"],
                    "model_version": row["model_version"],
                }
                values = json.loads(row["scores"])
                values["latency_seconds"] = row["latency_seconds"]
                values["steps"] = None if row["steps"] is None else float(row["steps"])
                yield Reading(row["ts"], labels, values, row["scorer_version"])
        finally:
            conn.close()


_ROW = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"


def _row(sample: ScoredSample) -> tuple[Any, ...]:
    """A scored sample as the samples table's row (pure)."""
    return (
        sample.id,
        sample.received_at,
        sample.scored_at,
        sample.source,
        sample.meta.model_version,
        sample.meta.request_id,
        sample.meta.prompt,
        sample.expected_text,
        sample.ocr_text,
        json.dumps(dict(sample.meta.labels)),
        sample.meta.latency_seconds,
        sample.meta.steps,
        sample.meta.seed,
        json.dumps(dict(sample.scores)),
        json.dumps(sample.evidence, default=str),
        int(sample.failing),
        sample.image_path,
        sample.overlay_path,
        sample.evidence.get("scorer_version"),  # stamped by the Scorer (driftmon.scoring.scorer)
    )


def _from_row(row: sqlite3.Row) -> ScoredSample:
    meta = SampleMeta(
        prompt=row["prompt"],
        expected_text=row["expected_text"],
        model_version=row["model_version"],
        request_id=row["request_id"],
        latency_seconds=row["latency_seconds"],
        steps=row["steps"],
        seed=row["seed"],
        labels=json.loads(row["labels"]),
    )
    return ScoredSample(
        id=row["id"],
        source=row["source"],
        received_at=row["ts"],
        scored_at=row["scored_at"],
        meta=meta,
        scores=json.loads(row["scores"]),
        ocr_text=row["ocr_text"],
        expected_text=row["expected_text"],
        evidence=json.loads(row["evidence"]),
        failing=bool(row["failing"]),
        image_path=row["image_path"],
        overlay_path=row["overlay_path"],
    )
