"""The intake journal: every sampled, acknowledged sample stays on disk until its outcome is committed.

A SQLite file of its own (not the store's), in WAL mode, so intake never waits on the store's
writer. Bounded in entries and in bytes (image + meta). An append commits with
``synchronous=FULL``: the WAL is fsynced before `append` returns, so an acknowledged sample
survives the death of any process (SIGKILL, OOM kill, crash) and also a crash of the machine,
where the volume survives it.
(``NORMAL`` would already survive process death, the WAL being in the kernel's page cache at
commit, but not a power loss or kernel panic; the extra fsync is paid only by sampled samples.)
Leases, completions and notes commit with NORMAL: losing one to a power loss only means an entry
is scored again (see `_transaction`).

    journal = Journal(path, max_entries=10_000, max_bytes=512 << 20)
    entry_id = journal.append(sample)      on disk when it returns; idempotent on sample.id
        raises JournalFull                 bounds reached: HTTP 429 + Retry-After
        raises JournalUnavailable          disk full, read-only, I/O error: HTTP 503 + Retry-After
    journal.ensure_room(size)              JournalFull now, before intake decodes anything (W8)
    journal.expire_leases()                no scorer runs (start, after it died): all leases end
    entries = journal.claim(16, lease_seconds=300)   free entries, oldest first; attempts += 1
    journal.complete(ids)                  the scored row / counted failure is committed: deleted
    journal.release(ids)                   lease given back without costing an attempt (shutdown)
    journal.note_error(ids, reason)        why the last attempt failed (crash, timeout, signal)
    journal.poison(lease_seconds=300)      entries out of attempts, leased to the caller, who
                                           records them outcome="failed" (entry.last_error) and
                                           completes them
    journal.depth(), journal.size_bytes()  for metrics and readiness

Exactly once: `complete` runs after the store's commit, in another file, so a process death
between the two leaves a scored entry in the journal. The store's `samples.id` is the sample id:
a claimed entry whose id already has a row was scored before the death; complete it unscored.

Every method serialises on a lock (one connection per Journal; use one Journal per process) and
raises JournalUnavailable, never a raw sqlite3/OS error; the connection is reopened on next use.
A journal file that could not even be created is removed, not left as an empty file.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import structlog

from driftmon.errors import JournalFull, JournalUnavailable, Shed
from driftmon.samples import Sample, SampleMeta
from driftmon.store.db import connect
from driftmon.store.migrations import Migration

log = structlog.get_logger("driftmon.journal")

#: attempts (claims) after which an entry is poison: it crashed or timed out the scorer each time
MAX_ATTEMPTS = 3

_V1_TABLES = (
    """
CREATE TABLE journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    received_at REAL NOT NULL,
    meta TEXT NOT NULL,
    size INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    leased_until REAL,
    last_error TEXT,
    image BLOB NOT NULL
)""",
    """
CREATE TABLE journal_totals (
    slot INTEGER PRIMARY KEY CHECK (slot = 1),
    entries INTEGER NOT NULL,
    bytes INTEGER NOT NULL
)""",
    "INSERT INTO journal_totals VALUES (1, 0, 0)",
    """
CREATE TRIGGER journal_added AFTER INSERT ON journal BEGIN
    UPDATE journal_totals SET entries = entries + 1, bytes = bytes + NEW.size;
END""",
    """
CREATE TRIGGER journal_removed AFTER DELETE ON journal BEGIN
    UPDATE journal_totals SET entries = entries - 1, bytes = bytes - OLD.size;
END""",
)


def _v1_journal(conn: sqlite3.Connection) -> None:
    """The journal table and its running totals (kept by triggers, so bounds cost O(1))."""
    for statement in _V1_TABLES:
        conn.execute(statement)


#: the journal file's migrations; the n-th makes schema version n
JOURNAL_MIGRATIONS: tuple[Migration, ...] = (_v1_journal,)

_COLUMNS = "id, sample_id, source, received_at, meta, attempts, last_error, image"
_FREE = "(leased_until IS NULL OR leased_until <= :now)"


@dataclass(frozen=True, slots=True)
class Entry:
    """A claimed journal entry: the sample as taken in, and how often it was claimed."""

    id: int
    sample: Sample
    attempts: int
    #: why an earlier attempt failed (`note_error`), None when nobody said
    last_error: str | None


def meta_json(meta: SampleMeta) -> str:
    """The sample's meta as JSON (pure)."""
    values: dict[str, Any] = {field.name: getattr(meta, field.name) for field in fields(meta)}
    values["labels"] = dict(meta.labels)
    if meta.expected_objects is not None:
        values["expected_objects"] = dict(meta.expected_objects)
    return json.dumps(values, separators=(",", ":"))


def meta_from_json(text: str) -> SampleMeta:
    """`meta_json` read back; keys this release does not know are ignored (pure)."""
    values = json.loads(text)
    known = {field.name for field in fields(SampleMeta)}
    values = {key: value for key, value in values.items() if key in known}
    if values.get("size") is not None:
        values["size"] = tuple(values["size"])
    return SampleMeta(**values)


def _entry(row: sqlite3.Row) -> Entry:
    meta = meta_from_json(row["meta"])
    sample = Sample(row["sample_id"], row["source"], row["received_at"], meta, None, bytes(row["image"]))
    return Entry(row["id"], sample, row["attempts"], row["last_error"])


def _remove_if_empty(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(OSError):
            if leftover.stat().st_size == 0:
                leftover.unlink()


class Journal:
    """The durable queue between intake and scoring (see the module docstring)."""

    def __init__(
        self,
        path: Path | str,
        max_entries: int,
        max_bytes: int,
        *,
        clock: Callable[[], float] = time.time,
        max_attempts: int = MAX_ATTEMPTS,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        self.path = Path(path)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self.max_attempts = max_attempts
        self.synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def append(self, sample: Sample) -> int:
        """Write the sample (its encoded bytes and meta); on disk when this returns its entry id.

        A sample id already in the journal returns that entry. A sample over `max_bytes` is taken
        only into an empty journal, so no sample is refused forever.
        """
        if not sample.encoded:
            raise ValueError(f"sample {sample.id}: no encoded bytes to journal")
        meta = meta_json(sample.meta)
        size = len(sample.encoded) + len(meta.encode())
        with self._transaction("append", durable=True) as conn:
            known = conn.execute("SELECT id FROM journal WHERE sample_id = ?", (sample.id,)).fetchone()
            if known is not None:
                return int(known["id"])
            self._check_room(conn, size)
            cursor = conn.execute(
                "INSERT INTO journal (sample_id, source, received_at, meta, size, image)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sample.id, sample.source, sample.received_at, meta, size, sample.encoded),
            )
            return int(cursor.lastrowid or 0)

    def ensure_room(self, size: int) -> None:
        """Raise JournalFull unless a sample of about `size` bytes fits now: the cheap test
        intake runs before it decodes or checks anything (`append` tests again, exactly)."""
        with self._lock, self._unavailable("read its totals"):
            self._check_room(self._connection(), size)

    def claim(self, batch_size: int, lease_seconds: float) -> list[Entry]:
        """Up to `batch_size` entries neither leased nor out of attempts, oldest first, leased to
        the caller for `lease_seconds`; each claim counts one attempt."""
        return self._lease("claim", "attempts < :max", batch_size, lease_seconds, counts_attempt=True)

    def poison(self, lease_seconds: float, limit: int = 64) -> list[Entry]:
        """Entries whose `max_attempts` claims all ended without `complete` (the scorer crashed or
        timed out each time), leased to the caller, who records them failed and completes them."""
        return self._lease(
            "find poison entries", "attempts >= :max", limit, lease_seconds, counts_attempt=False
        )

    def complete(self, entry_ids: Iterable[int]) -> None:
        """Delete the entries: their scored rows (or counted failures) are committed."""
        self._each("complete", "DELETE FROM journal WHERE id = ?", entry_ids)

    def release(self, entry_ids: Iterable[int]) -> None:
        """Give leases back without costing an attempt (shutdown before the batch was scored)."""
        self._each(
            "release",
            "UPDATE journal SET leased_until = NULL, attempts = MAX(attempts - 1, 0)"
            " WHERE id = ? AND leased_until IS NOT NULL",
            entry_ids,
        )

    def note_error(self, entry_ids: Iterable[int], reason: str) -> None:
        """Record why the entries' last attempt failed (shown when they end as poison)."""
        rows = [(reason, entry_id) for entry_id in entry_ids]
        with self._transaction("note an error") as conn:
            conn.executemany("UPDATE journal SET last_error = ? WHERE id = ?", rows)

    def expire_leases(self) -> int:
        """End every lease now, attempts kept (each counts as failed); call it while no scorer
        runs: at start, and after the scorer died. Returns how many leases ended."""
        with self._transaction("expire leases") as conn:
            cursor = conn.execute("UPDATE journal SET leased_until = NULL WHERE leased_until IS NOT NULL")
            return cursor.rowcount

    def depth(self) -> int:
        """Entries in the journal (acknowledged, outcome not committed yet)."""
        return self._totals()[0]

    def size_bytes(self) -> int:
        """Bytes the entries count against `max_bytes` (encoded images plus meta)."""
        return self._totals()[1]

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    def _check_room(self, conn: sqlite3.Connection, size: int) -> None:
        entries, used = conn.execute("SELECT entries, bytes FROM journal_totals").fetchone()
        if entries >= self.max_entries or (entries and used + size > self.max_bytes):
            raise JournalFull(
                f"intake journal is full ({entries} of {self.max_entries} entries,"
                f" {used} + {size} of {self.max_bytes} bytes)"
            )

    def _lease(
        self, what: str, which: str, limit: int, lease_seconds: float, *, counts_attempt: bool
    ) -> list[Entry]:
        """Up to `limit` unleased entries meeting `which` (SQL over ``:max``, the attempts allowed),
        oldest first, leased for `lease_seconds`; `counts_attempt` adds one to each one's attempts."""
        now = self.clock()
        count = "attempts = attempts + 1, " if counts_attempt else ""
        query = (
            f"UPDATE journal SET {count}leased_until = :until WHERE id IN"
            f" (SELECT id FROM journal WHERE {which} AND {_FREE} ORDER BY id LIMIT :n)"
            f" RETURNING {_COLUMNS}"
        )
        params = {"until": now + lease_seconds, "max": self.max_attempts, "now": now, "n": limit}
        with self._transaction(what) as conn:
            rows = conn.execute(query, params).fetchall()
        return sorted((_entry(row) for row in rows), key=lambda entry: entry.id)

    def _each(self, what: str, statement: str, entry_ids: Iterable[int]) -> None:
        rows = [(entry_id,) for entry_id in entry_ids]
        if rows:
            with self._transaction(what) as conn:
                conn.executemany(statement, rows)

    def _totals(self) -> tuple[int, int]:
        with self._lock, self._unavailable("read its totals"):
            row = self._connection().execute("SELECT entries, bytes FROM journal_totals").fetchone()
            return int(row[0]), int(row[1])

    @contextlib.contextmanager
    def _transaction(self, what: str, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction, rolled back on any error (a failed COMMIT included).

        Only a `durable` one (`append`: the promise of a 202) pays for ``synchronous`` (FULL: the
        WAL fsynced at its commit). The others (leases, deletes of completed entries, notes) commit
        with NORMAL: a power loss may undo the last of them, and undoing one is always safe (an
        entry claimed again is scored again, `Store.add_once` keeps one row per sample id); the
        next durable commit fsyncs them too, the WAL being written in order."""
        with self._lock, self._unavailable(what):
            conn = self._connection()
            conn.execute(f"PRAGMA synchronous={self.synchronous if durable else 'NORMAL'}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _unavailable(self, what: str) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            self._drop_connection()
            raise JournalUnavailable(f"intake journal {self.path}: cannot {what}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        existed = self.path.exists()
        try:
            conn = connect(self.path, JOURNAL_MIGRATIONS)
        except (sqlite3.Error, OSError):
            if not existed:
                _remove_if_empty(self.path)
            raise
        return conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None


def take_over_spool(directory: Path, journal: Journal) -> int:
    """Move a SIGTERM spool (driftmon before the journal) into the journal, oldest first.

    Each `<id>.json` + `<id>.img` pair is deleted only after its append committed; an unreadable
    pair is logged and deleted; a full or unavailable journal stops the takeover and leaves the
    rest for the next start. Returns how many samples were taken over.
    """
    taken = 0
    for record_path in _spooled_records(Path(directory)):
        try:
            sample = _spooled_sample(record_path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("spool_entry_dropped", path=str(record_path), error=str(exc))
            _unlink_pair(record_path)
            continue
        try:
            journal.append(sample)
        except Shed as exc:
            log.warning("spool_takeover_stopped", taken=taken, error=str(exc))
            return taken
        _unlink_pair(record_path)
        taken += 1
    with contextlib.suppress(OSError):
        Path(directory).rmdir()  # only when empty
    if taken:
        log.info("spool_taken_over", samples=taken)
    return taken


def _spooled_records(directory: Path) -> Sequence[Path]:
    def mtime(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    return sorted(directory.glob("*.json"), key=mtime)


def _spooled_sample(record_path: Path) -> Sample:
    """One spool pair as a Sample. The format releases before the journal wrote at SIGTERM:
    `<id>.img` (the encoded image) and `<id>.json`, ``{"id", "source", "received_at", "meta"}``
    with meta as `SampleMeta`'s fields (`size` a list)."""
    record = json.loads(record_path.read_text())
    encoded = record_path.with_suffix(".img").read_bytes()
    if not encoded:
        raise ValueError("empty image file")
    meta = meta_from_json(json.dumps(record["meta"]))
    return Sample(str(record["id"]), str(record["source"]), float(record["received_at"]), meta, None, encoded)


def _unlink_pair(record_path: Path) -> None:
    for path in (record_path, record_path.with_suffix(".img")):
        with contextlib.suppress(OSError):
            path.unlink()
