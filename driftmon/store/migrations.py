"""Schema versions of the store's database, kept in ``PRAGMA user_version``.

A migration is a small function that takes the database from the version before it to its own
(the n-th function makes version n). `migrate` runs the missing ones in order, in one
transaction, and records the version reached; a database newer than the code is refused before
anything is written. To add a table, append one function to `STORE_MIGRATIONS` (and test it from
the schema before it).

Version 0 is a database written before versions existed (driftmon 29f09f2 and older): its tables
are exactly those of version 1, which therefore creates them only where missing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from driftmon.errors import StoreError

Migration = Callable[[sqlite3.Connection], None]

_V1_TABLES = (
    """
CREATE TABLE IF NOT EXISTS samples (
    id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    scored_at REAL NOT NULL,
    source TEXT NOT NULL,
    model_version TEXT NOT NULL,
    request_id TEXT,
    prompt TEXT,
    expected_text TEXT NOT NULL,
    ocr_text TEXT NOT NULL,
    labels TEXT NOT NULL,
    latency_seconds REAL,
    steps INTEGER,
    seed INTEGER,
    scores TEXT NOT NULL,
    evidence TEXT NOT NULL,
    failing INTEGER NOT NULL,
    image_path TEXT,
    overlay_path TEXT
)""",
    "CREATE INDEX IF NOT EXISTS samples_ts ON samples (ts)",
    "CREATE INDEX IF NOT EXISTS samples_model_ts ON samples (model_version, ts)",
    """
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
)""",
    """
CREATE TABLE IF NOT EXISTS rule_baselines (
    slot INTEGER PRIMARY KEY CHECK (slot = 1),
    model_version TEXT NOT NULL,
    since REAL NOT NULL,
    until REAL NOT NULL,
    pinned_at REAL NOT NULL,
    readings INTEGER NOT NULL,
    data BLOB NOT NULL
)""",
    """
CREATE TABLE IF NOT EXISTS alert_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    receiver TEXT NOT NULL,
    target INTEGER NOT NULL,
    dedup TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    UNIQUE (receiver, target, dedup)
)""",
    "CREATE INDEX IF NOT EXISTS alert_outbox_endpoint ON alert_outbox (receiver, target, id)",
    """
CREATE TABLE IF NOT EXISTS alert_notification_state (
    receiver TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    starts_at REAL NOT NULL,
    queued_at REAL NOT NULL,
    PRIMARY KEY (receiver, fingerprint)
)""",
)


def _v1_tables_of_29f09f2(conn: sqlite3.Connection) -> None:
    """Samples, rule alert state, the pinned baseline, the alert outbox and notification state."""
    for statement in _V1_TABLES:
        conn.execute(statement)


#: the scorer_version given to the samples a database held when it gained the column
EARLIER_SCORER = "earlier/easyocr"


def _v2_samples_scorer_version(conn: sqlite3.Connection) -> None:
    """samples.scorer_version: the scorer that scored each sample (driftmon's version and its OCR
    readers, e.g. ``0.2.0/easyocr+rapidocr:on_fail``); the samples already there were scored by
    an earlier driftmon (EasyOCR alone): `EARLIER_SCORER`."""
    conn.execute("ALTER TABLE samples ADD COLUMN scorer_version TEXT")
    conn.execute("UPDATE samples SET scorer_version = ?", (EARLIER_SCORER,))


#: the store's migrations; the n-th makes schema version n
STORE_MIGRATIONS: tuple[Migration, ...] = (_v1_tables_of_29f09f2, _v2_samples_scorer_version)


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's schema version (0: created before versions existed, or empty)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(conn: sqlite3.Connection, path: Path | str, known: int) -> int:
    """The schema version, or StoreError when it is newer than the `known` one (reads only)."""
    found = schema_version(conn)
    if found > known:
        raise StoreError(
            f"{path}: schema version {found} is newer than this driftmon knows ({known});"
            " refusing to open it (was it written by a newer release?). Run that release,"
            " or point store.path at another file."
        )
    return found


def migrate(
    conn: sqlite3.Connection,
    path: Path | str,
    migrations: Sequence[Migration] = STORE_MIGRATIONS,
    target: int | None = None,
) -> int:
    """Bring the schema to `target` (default: the newest) in one transaction; returns the version.

    `conn` must be in autocommit mode (``isolation_level=None``).
    """
    target = len(migrations) if target is None else target
    if refuse_newer(conn, path, len(migrations)) >= target:
        return schema_version(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = refuse_newer(conn, path, len(migrations))  # another process may have migrated
        for version in range(current + 1, target + 1):
            migrations[version - 1](conn)
        conn.execute(f"PRAGMA user_version = {max(current, target)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return max(current, target)
