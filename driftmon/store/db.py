"""Connections to the store's SQLite file: WAL mode, a busy timeout, the schema up to date."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from driftmon.store.migrations import STORE_MIGRATIONS, Migration, migrate, refuse_newer

#: how long a statement waits for another connection's write lock before "database is locked"
BUSY_TIMEOUT_SECONDS = 10.0


def connect(path: Path | str, migrations: Sequence[Migration] = STORE_MIGRATIONS) -> sqlite3.Connection:
    """Open (creating its directory) a WAL-mode connection usable from several threads.

    The schema is migrated to the newest version first. A database newer than this code raises
    StoreError before anything is written to it.
    """
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), check_same_thread=False, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
    )
    try:
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        refuse_newer(conn, path, len(migrations))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn, path, migrations)
    except BaseException:
        conn.close()
        raise
    conn.row_factory = sqlite3.Row
    return conn
