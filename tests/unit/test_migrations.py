"""Schema versions of the store: each migration from the schema before it, the upgrade in place of a
database written by 29f09f2 (before versions existed), and the refusal of a newer schema."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from driftmon.errors import StoreError
from driftmon.rules.baselines import PinStore, version_summary
from driftmon.rules.state import AlertStateStore
from driftmon.samples import SampleMeta, ScoredSample
from driftmon.store import (
    STORE_MIGRATIONS,
    Outbox,
    Queued,
    SentState,
    Store,
    connect,
    migrate,
    schema_version,
)

FIXTURE_29F09F2 = Path(__file__).parent.parent / "fixtures" / "schema_29f09f2.sql"
T0 = 1_700_000_000.0  # the fixture's clock


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection in autocommit mode, without the store's migrations."""
    return sqlite3.connect(path, isolation_level=None)


def load_29f09f2(path: Path) -> Path:
    """A database file as driftmon 29f09f2 left it: WAL mode, user_version 0, a few rows."""
    conn = raw(path)
    conn.executescript(FIXTURE_29F09F2.read_text())
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return path


def schema(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """Every table and index with its SQL text."""
    query = "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
    return [tuple(row) for row in conn.execute(query)]


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def test_a_new_store_records_its_schema_version(tmp_path: Path) -> None:
    """A store created now carries the newest schema version, at least 1."""
    Store(tmp_path / "db.sqlite").close()
    conn = raw(tmp_path / "db.sqlite")
    assert schema_version(conn) == len(STORE_MIGRATIONS) >= 1


def test_migration_1_creates_exactly_the_29f09f2_schema(tmp_path: Path) -> None:
    """From an empty database (version 0) migration 1 makes the tables and indexes 29f09f2 made."""
    conn = raw(tmp_path / "new.sqlite")
    assert migrate(conn, "new.sqlite", target=1) == 1
    assert schema_version(conn) == 1
    assert schema(conn) == schema(raw(load_29f09f2(tmp_path / "old.sqlite")))


def test_migration_1_keeps_a_29f09f2_database_and_its_rows(tmp_path: Path) -> None:
    """From a 29f09f2 database (version 0, every table present) migration 1 changes only the version."""
    conn = raw(load_29f09f2(tmp_path / "db.sqlite"))
    before = schema(conn), conn.execute("SELECT * FROM samples ORDER BY id").fetchall()
    assert migrate(conn, "db.sqlite", target=1) == 1
    assert (schema(conn), conn.execute("SELECT * FROM samples ORDER BY id").fetchall()) == before


@pytest.mark.parametrize("version", range(1, len(STORE_MIGRATIONS) + 1))
def test_each_migration_applies_from_the_schema_before_it(tmp_path: Path, version: int) -> None:
    """Migration n takes a database of version n-1 to version n; migrating again changes nothing."""
    conn = raw(tmp_path / "db.sqlite")
    migrate(conn, "db.sqlite", target=version - 1)
    assert schema_version(conn) == version - 1
    assert migrate(conn, "db.sqlite", target=version) == version
    after = schema(conn)
    assert schema_version(conn) == version
    assert migrate(conn, "db.sqlite", target=version) == version
    assert schema(conn) == after


def test_a_failing_migration_leaves_the_previous_version_whole(tmp_path: Path) -> None:
    """A migration that fails halfway rolls back with its version: no partial table, same version."""

    def add_table(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE kept (x INTEGER)")

    def fail_halfway(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE partial (x INTEGER)")
        raise sqlite3.OperationalError("disk I/O error")

    conn = raw(tmp_path / "db.sqlite")
    assert migrate(conn, "db.sqlite", [add_table]) == 1
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, "db.sqlite", [add_table, fail_halfway])
    assert schema_version(conn) == 1
    assert [row[1] for row in schema(conn)] == ["kept"]


def test_a_file_of_its_own_has_its_own_migrations(tmp_path: Path) -> None:
    """`connect` takes another list of migrations (a separate file, e.g. a journal) the same way."""

    def journal_table(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE journal (id TEXT PRIMARY KEY)")

    conn = connect(tmp_path / "journal.sqlite", [journal_table])
    assert schema_version(conn) == 1
    assert [row[1] for row in schema(conn)] == ["journal"]


def test_connections_opened_at_once_migrate_once(tmp_path: Path) -> None:
    """Several connections opening a new file together all succeed at the newest version."""
    versions: list[int] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            conn = connect(tmp_path / "db.sqlite")
            versions.append(schema_version(conn))
            conn.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert versions == [len(STORE_MIGRATIONS)] * 4


def test_a_29f09f2_database_upgrades_in_place_and_its_rows_stay_usable(tmp_path: Path) -> None:
    """Samples, alert state, the pin, the outbox and notification states read back through the
    repositories after the upgrade, and new rows go in beside them."""
    path = load_29f09f2(tmp_path / "db.sqlite")
    store = Store(path)
    assert schema_version(raw(path)) == len(STORE_MIGRATIONS)
    sample = store.get("s1")
    assert sample is not None
    assert (sample.meta.model_version, sample.meta.seed, sample.scores["text_fidelity"]) == ("v1", 42, 0.75)
    assert [r.ts for r in store.iter_readings(T0)] == [T0, T0 + 60.0]
    store.add(_sample("s3", T0 + 120.0))
    assert store.count() == 3

    conn = store.connect()
    alert_states = AlertStateStore(conn)
    rule_states = alert_states.load(now=T0 + 400.0)["drift/TextFidelityLow"]
    firing = rule_states["fp-1"]
    alert = firing.alert
    assert (alert.state, alert.active_at, alert.fired_at) == ("firing", T0 + 60.0, T0 + 360.0)
    assert alert_states.save("drift/TextFidelityLow", {**rule_states, "fp-2": firing})
    assert set(AlertStateStore(conn).load(now=T0 + 400.0)["drift/TextFidelityLow"]) == {"fp-1", "fp-2"}

    pin = PinStore(conn).load()
    assert pin is not None
    assert (pin.model_version, pin.readings, pin.pinned_at) == ("v1", 2, T0 + 400.0)
    assert pin.view.points() > 0
    assert [v["samples"] for v in version_summary(conn, 1)] == [3]

    outbox = Outbox(conn)
    assert outbox.states() == {("slack", "fp-1"): SentState("firing", T0 + 60.0, T0 + 360.0)}
    (queued,) = outbox.head("slack", 0, 10)
    assert (queued.id, queued.event, queued.payload["status"]) == (1, "firing", "firing")
    outbox.record([Queued("slack", 0, "fp-2:firing", "fp-2", "firing", {}, T0 + 500.0, False)], [])
    assert [row.id for row in outbox.head("slack", 0, 10)] == [1, 2]


@pytest.mark.parametrize("opener", [Store, connect], ids=["Store", "connect"])
def test_a_newer_schema_is_refused_without_writing(tmp_path: Path, opener: object) -> None:
    """A database from a newer release: StoreError naming the file and both versions; the file
    is left byte for byte as it was."""
    path = tmp_path / "db.sqlite"
    Store(path).close()
    newer = len(STORE_MIGRATIONS) + 1
    conn = raw(path)
    conn.execute(f"PRAGMA user_version = {newer}")
    conn.close()
    before = snapshot(path)
    time.sleep(0.01)  # an mtime written now would differ
    with pytest.raises(StoreError) as refused:
        opener(path)  # type: ignore[operator]
    message = str(refused.value)
    assert str(path) in message
    assert f"schema version {newer}" in message
    assert f"({len(STORE_MIGRATIONS)})" in message
    assert snapshot(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.sqlite"]


def _sample(sample_id: str, ts: float) -> ScoredSample:
    meta = SampleMeta(prompt="p", model_version="v1", seed=1, labels={})
    return ScoredSample(sample_id, "push", ts, ts + 1.0, meta, {"text_fidelity": 1.0}, "P", "P", {}, False)
