"""The intake journal: bounds, a full disk, leases, attempts and poison, SIGKILL, spool takeover."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import driftmon.store.journal as journal_module
from driftmon.errors import JournalFull, JournalUnavailable, Shed
from driftmon.samples import Sample, SampleMeta
from driftmon.store.journal import Journal, meta_from_json, meta_json, take_over_spool
from tests.spool_files import write_spool_pair
from tests.support import FakeClock

REPO = Path(__file__).resolve().parents[2]


def sample(n: int, size: int = 100, meta: SampleMeta | None = None) -> Sample:
    return Sample(
        f"s{n}", "push", 100.0 + n, meta or SampleMeta(model_version="v1"), None, bytes([n % 256]) * size
    )


def journal_at(path: Path, clock: FakeClock | None = None, **bounds: int) -> Journal:
    return Journal(
        path,
        max_entries=bounds.get("max_entries", 1000),
        max_bytes=bounds.get("max_bytes", 1 << 30),
        clock=clock or FakeClock(),
    )


def test_append_then_claim_returns_the_sample_as_taken_in(tmp_path: Path) -> None:
    """Bytes, source, time and every meta field come back; depth and bytes follow."""
    meta = SampleMeta(
        prompt='a "SIGN"',
        expected_text="SIGN",
        model_version="v2",
        request_id="r1",
        latency_seconds=0.5,
        steps=30,
        seed=9223372036854775808,
        labels={"team": "a"},
        size=(512, 512),
        expected_objects={"cat": 2},
    )
    journal = journal_at(tmp_path / "journal.sqlite")
    entry_id = journal.append(sample(1, meta=meta))
    assert (journal.depth(), journal.size_bytes()) == (1, 100 + len(meta_json(meta).encode()))
    [entry] = journal.claim(10, lease_seconds=60)
    assert (entry.id, entry.attempts, entry.last_error) == (entry_id, 1, None)
    assert entry.sample == sample(1, meta=meta)


def test_only_an_append_commits_with_the_configured_synchronous(tmp_path: Path) -> None:
    """The 202's promise is fsynced (FULL); leases, completions and notes commit with NORMAL."""
    journal = journal_at(tmp_path / "journal.sqlite")
    journal.depth()  # opens the connection
    statements: list[str] = []
    assert journal._conn is not None
    journal._conn.set_trace_callback(statements.append)

    def synchronous_of(call: Any) -> list[str]:
        statements.clear()
        call()
        return [s.split("=", 1)[1] for s in statements if s.startswith("PRAGMA synchronous")]

    assert synchronous_of(lambda: journal.append(sample(1))) == ["FULL"]
    [entry] = journal.claim(10, lease_seconds=60)
    assert synchronous_of(lambda: journal.claim(10, lease_seconds=60)) == ["NORMAL"]
    assert synchronous_of(lambda: journal.note_error([entry.id], "crash")) == ["NORMAL"]
    assert synchronous_of(lambda: journal.complete([entry.id])) == ["NORMAL"]
    assert synchronous_of(lambda: journal.append(sample(2))) == ["FULL"]


def test_meta_round_trip_ignores_unknown_keys() -> None:
    """A key written by another release is ignored, the known ones kept."""
    text = meta_json(SampleMeta(model_version="v3", size=(2, 3)))
    assert meta_from_json(text) == SampleMeta(model_version="v3", size=(2, 3))
    assert meta_from_json('{"model_version": "v4", "future": 1}') == SampleMeta(model_version="v4")


def test_append_is_idempotent_on_the_sample_id(tmp_path: Path) -> None:
    """The same sample appended twice is one entry (a spool takeover killed mid-way, rerun)."""
    journal = journal_at(tmp_path / "journal.sqlite")
    assert journal.append(sample(1)) == journal.append(sample(1))
    assert journal.depth() == 1


def test_count_bound_answers_journal_full(tmp_path: Path) -> None:
    """At max_entries the next append is JournalFull (a Shed: 429), and room comes back on complete."""
    journal = journal_at(tmp_path / "journal.sqlite", max_entries=3)
    ids = [journal.append(sample(n)) for n in range(3)]
    with pytest.raises(JournalFull) as refused:
        journal.append(sample(3))
    assert isinstance(refused.value, Shed) and refused.value.outcome == "shed"
    journal.complete(ids[:1])
    journal.append(sample(3))
    assert journal.depth() == 3


def test_bytes_bound_answers_journal_full(tmp_path: Path) -> None:
    """Bytes over max_bytes refuse; a lone sample over the bound still fits an empty journal."""
    meta_size = len(meta_json(SampleMeta(model_version="v1")).encode())
    journal = journal_at(tmp_path / "journal.sqlite", max_bytes=2 * (100 + meta_size))
    journal.append(sample(1))
    journal.append(sample(2))
    with pytest.raises(JournalFull):
        journal.append(sample(3, size=1))
    assert journal.size_bytes() == 2 * (100 + meta_size)
    big = journal_at(tmp_path / "big.sqlite", max_bytes=10)
    big.append(sample(4, size=1000))
    with pytest.raises(JournalFull):
        big.append(sample(5, size=1))


def test_claim_leases_oldest_first_and_a_lease_expiry_offers_again(tmp_path: Path) -> None:
    """A leased entry is not claimed twice until its lease ends; then it is, one attempt more."""
    clock = FakeClock()
    journal = journal_at(tmp_path / "journal.sqlite", clock)
    ids = [journal.append(sample(n)) for n in range(5)]
    first = journal.claim(3, lease_seconds=30)
    assert [entry.id for entry in first] == ids[:3]
    assert [entry.id for entry in journal.claim(10, lease_seconds=30)] == ids[3:]
    assert journal.claim(10, lease_seconds=30) == []
    clock.now += 31
    again = journal.claim(10, lease_seconds=30)
    assert [(entry.id, entry.attempts) for entry in again] == [(entry_id, 2) for entry_id in ids]


def test_complete_deletes_and_release_costs_no_attempt(tmp_path: Path) -> None:
    """Completed entries are gone; released ones are claimable at once with the same attempts."""
    journal = journal_at(tmp_path / "journal.sqlite")
    ids = [journal.append(sample(n)) for n in range(4)]
    claimed = journal.claim(4, lease_seconds=300)
    journal.complete([entry.id for entry in claimed[:2]])
    journal.release([entry.id for entry in claimed[2:]])
    journal.release([entry.id for entry in claimed[2:]])  # twice: still no attempt refunded twice
    assert journal.depth() == 2
    assert [(entry.id, entry.attempts) for entry in journal.claim(4, lease_seconds=300)] == [
        (ids[2], 1),
        (ids[3], 1),
    ]


def test_poison_after_three_attempts_with_the_reason(tmp_path: Path) -> None:
    """Three claims that never completed: the entry is no longer claimed but given as poison,
    with the last noted error; the others go on being claimed."""
    clock = FakeClock()
    journal = journal_at(tmp_path / "journal.sqlite", clock)
    bad, good = journal.append(sample(1)), journal.append(sample(2))
    for attempt in range(1, 4):
        [entry] = [e for e in journal.claim(10, lease_seconds=10) if e.id == bad]
        assert entry.attempts == attempt
        journal.note_error([bad], f"scorer killed by SIGSEGV (attempt {attempt})")
        journal.complete([e for e in [good] if attempt == 1])
        assert journal.poison(lease_seconds=10) == []  # still leased: the attempt may succeed
        clock.now += 11
    assert journal.claim(10, lease_seconds=10) == []
    [poisoned] = journal.poison(lease_seconds=10)
    assert (poisoned.id, poisoned.attempts) == (bad, 3)
    assert poisoned.last_error == "scorer killed by SIGSEGV (attempt 3)"
    assert journal.poison(lease_seconds=10) == []  # leased to whoever records it failed
    journal.complete([bad])
    assert journal.depth() == 0


def test_expire_leases_ends_a_dead_scorers_leases_keeping_attempts(tmp_path: Path) -> None:
    """At start (or after the scorer died) every lease ends at once; the attempt still counts."""
    path = tmp_path / "journal.sqlite"
    journal = journal_at(path)
    entry_id = journal.append(sample(1))
    journal.claim(1, lease_seconds=3600)
    journal.close()
    restarted = journal_at(path)
    assert restarted.claim(1, lease_seconds=60) == []
    assert restarted.expire_leases() == 1
    [entry] = restarted.claim(1, lease_seconds=60)
    assert (entry.id, entry.attempts) == (entry_id, 2)


class FailingConnection:
    """A real connection whose INSERTs (or COMMITs) fail as on a full disk, when armed."""

    def __init__(self, conn: sqlite3.Connection, fail_on: str) -> None:
        self.conn = conn
        self.fail_on = fail_on
        self.armed = False

    def execute(self, sql: str, *args: Any) -> Any:
        if self.armed and sql.lstrip().upper().startswith(self.fail_on):
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


@pytest.mark.parametrize("fail_on", ["INSERT", "COMMIT"])
def test_a_full_disk_is_journal_unavailable_and_loses_nothing_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_on: str
) -> None:
    """An injected SQLITE_FULL: JournalUnavailable (a Shed, 503), no half entry; acknowledged
    entries all there, and appends work again once the disk has room."""
    opened: list[FailingConnection] = []

    def failing_connect(path: Path, migrations: Any) -> FailingConnection:
        opened.append(FailingConnection(sqlite3_connect(path, migrations), fail_on))
        return opened[-1]

    sqlite3_connect = journal_module.connect
    monkeypatch.setattr(journal_module, "connect", failing_connect)
    path = tmp_path / "journal.sqlite"
    journal = journal_at(path)
    acknowledged = [journal.append(sample(n)) for n in range(3)]
    opened[-1].armed = True
    with pytest.raises(JournalUnavailable, match="database or disk is full") as refused:
        journal.append(sample(3))
    assert refused.value.outcome == "shed"
    assert journal.depth() == 3  # no half entry; the connection was dropped and reopened
    assert len(opened) == 2
    assert journal.append(sample(4)) > acknowledged[-1]
    reopened = journal_at(path)
    claimed = reopened.claim(10, lease_seconds=60)
    assert [entry.sample.id for entry in claimed] == ["s0", "s1", "s2", "s4"]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, where this test may mount one (root, CAP_SYS_ADMIN); else skipped."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here; the injected full disk covers it")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(path: Path, leave: int) -> None:
    """Fill the file system of `path` up to about `leave` bytes free (none at all for 0)."""
    stats = os.statvfs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, bytes(max(stats.f_bavail * stats.f_frsize - leave, 0)))
        while leave == 0:
            os.write(fd, bytes(4096))
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_real_full_disk_is_journal_unavailable_and_recovers(small_tmpfs: Path) -> None:
    """On a really full tmpfs: JournalUnavailable, every acknowledged entry readable, appends
    work again once space is freed."""
    fill(small_tmpfs / "filler", leave=300_000)
    journal = journal_at(small_tmpfs / "journal.sqlite")
    acknowledged: list[str] = []
    with pytest.raises(JournalUnavailable):
        for n in range(100):
            journal.append(sample(n, size=20_000))
            acknowledged.append(f"s{n}")
    assert acknowledged
    (small_tmpfs / "filler").unlink()
    journal.append(sample(200))
    reopened = journal_at(small_tmpfs / "journal.sqlite")
    assert [entry.sample.id for entry in reopened.claim(200, lease_seconds=60)] == [*acknowledged, "s200"]


def test_a_journal_that_cannot_be_created_leaves_no_empty_file(small_tmpfs: Path) -> None:
    """No space at all: JournalUnavailable, and no 0-byte journal file left behind."""
    fill(small_tmpfs / "filler", leave=0)
    journal = journal_at(small_tmpfs / "journal.sqlite")
    with pytest.raises(JournalUnavailable):
        journal.append(sample(1))
    leftovers = [path.name for path in small_tmpfs.iterdir() if path.name != "filler"]
    assert [name for name in leftovers if (small_tmpfs / name).stat().st_size == 0] == []
    assert "journal.sqlite" not in leftovers


CHILD = textwrap.dedent(
    """
    import sys
    from driftmon.samples import Sample, SampleMeta
    from driftmon.store.journal import Journal

    journal = Journal(sys.argv[1], max_entries=1_000_000, max_bytes=1 << 40)
    for n in range(100_000):
        sample = Sample(f"s{n}", "push", float(n), SampleMeta(seed=n), None, bytes(2000))
        entry_id = journal.append(sample)
        print(entry_id, sample.id, flush=True)
    """
)


def test_every_acknowledged_append_survives_sigkill(tmp_path: Path) -> None:
    """A child appends and prints each id once append returned; SIGKILLed mid-way, the journal
    reopens intact with every printed id in it."""
    path = tmp_path / "journal.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    printed: list[tuple[int, str]] = []
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            entry_id, sample_id = line.split()
            printed.append((int(entry_id), sample_id))
            if len(printed) == 200:
                child.send_signal(signal.SIGKILL)
                break
        printed += [(int(a), b) for a, b in (line.split() for line in child.stdout)]
    assert child.returncode == -signal.SIGKILL
    journal = journal_at(path)
    entries = journal.claim(100_000, lease_seconds=60)
    found = {(entry.id, entry.sample.id) for entry in entries}
    assert set(printed) <= found
    assert len(found) - len(printed) <= 1  # at most the one whose print the kill cut off
    assert all(entry.sample.encoded == bytes(2000) for entry in entries)
    assert journal.depth() == len(entries)


def test_take_over_spool_moves_every_readable_pair_and_drops_garbage(tmp_path: Path) -> None:
    """Spool pairs become journal entries (meta intact) and are deleted; the 0-byte pairs an old
    full disk left are dropped; the emptied spool directory is removed."""
    spool_dir = tmp_path / "spool"
    meta = SampleMeta(model_version="v1", size=(4, 4), labels={"team": "a"}, seed=7)
    for n in range(3):
        write_spool_pair(spool_dir, sample(n, meta=meta))
    (spool_dir / "broken.json").write_text("")
    (spool_dir / "broken.img").write_bytes(b"")
    journal = journal_at(tmp_path / "journal.sqlite")
    assert take_over_spool(spool_dir, journal) == 3
    assert not spool_dir.exists()
    entries = journal.claim(10, lease_seconds=60)
    assert sorted(entry.sample.id for entry in entries) == ["s0", "s1", "s2"]
    assert all(entry.sample == sample(int(entry.sample.id[1:]), meta=meta) for entry in entries)


def test_take_over_spool_stops_at_a_full_journal_and_keeps_the_rest(tmp_path: Path) -> None:
    """A full journal stops the takeover: the files not taken stay for the next start."""
    spool_dir = tmp_path / "spool"
    for n in range(3):
        write_spool_pair(spool_dir, sample(n))
    journal = journal_at(tmp_path / "journal.sqlite", max_entries=2)
    assert take_over_spool(spool_dir, journal) == 2
    assert len(list(spool_dir.glob("*.json"))) == len(list(spool_dir.glob("*.img"))) == 1
    assert take_over_spool(tmp_path / "absent", journal) == 0
