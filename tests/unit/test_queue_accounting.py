"""Queue accounting that cannot drift (item 6), and sampling near its ratio: the edge tests that
deliberate one-line bugs in pipeline.py survived before. The bounded queue they guarded is now the
intake journal (driftmon/store/journal.py): its bytes bound is checked here the same way."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.errors import JournalFull
from driftmon.pipeline import is_sampled
from driftmon.samples import Sample, SampleMeta
from driftmon.store import Journal
from driftmon.store.journal import meta_json

#: what each entry counts besides its image: its meta as journaled
META = len(meta_json(SampleMeta()).encode())


def journal(tmp_path: Path, max_bytes: int, max_entries: int = 100) -> Journal:
    """A journal nobody claims from (no scorer runs)."""
    return Journal(tmp_path / "journal.db", max_entries, max_bytes, synchronous="NORMAL")


def sample(size: int, index: int = 0) -> Sample:
    return Sample(f"s{index}", "push", 0.0, SampleMeta(), None, b"x" * size)


def accepted(j: Journal, s: Sample) -> bool:
    try:
        j.append(s)
    except JournalFull:
        return False
    return True


def held_bytes(j: Journal) -> int:
    """What the journal really holds, summed from its rows (image and meta bytes)."""
    with sqlite3.connect(j.path) as conn:
        query = "SELECT COALESCE(SUM(length(image) + length(CAST(meta AS BLOB))), 0) FROM journal"
        return int(conn.execute(query).fetchone()[0])


def test_eight_posts_of_99_bytes_under_a_198_byte_limit(tmp_path: Path) -> None:
    """Two fit, the other six are refused, and what is counted is what is held (not 495 B
    held while 198 B are counted, as in the old queue: a refusal released bytes it never reserved)."""
    j = journal(tmp_path, 2 * (99 + META))
    answers = [accepted(j, sample(99, i)) for i in range(8)]
    assert answers == [True, True] + [False] * 6
    assert j.size_bytes() == held_bytes(j) == 2 * (99 + META)


def test_one_large_sample_on_an_empty_queue_is_taken(tmp_path: Path) -> None:
    """A sample larger than the limit is taken when the journal is empty (else it never could be)."""
    j = journal(tmp_path, 100)
    assert accepted(j, sample(500))
    assert not accepted(j, sample(1, 1))
    assert j.size_bytes() == 500 + META


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=60), st.integers(1, 1000), st.randoms())
def test_queued_bytes_never_pass_the_limit(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], limit: int, rng: random.Random
) -> None:
    """Over many posts with takes in between: the counted bytes equal the held bytes, and pass
    the limit only by one sample taken into an empty journal."""
    j = journal(tmp_path_factory.mktemp("q"), limit)
    try:
        for index, size in enumerate(sizes):
            accepted(j, sample(size, index))
            if rng.random() < 0.3:
                # what the supervisor does with each entry it takes: claim, record, complete
                j.complete(entry.id for entry in j.claim(1, lease_seconds=60))
            held = held_bytes(j)
            assert j.size_bytes() == held
            assert held <= limit or j.depth() == 1
    finally:
        j.close()


@pytest.mark.parametrize("ratio", [0.1, 0.5, 0.9])
def test_the_share_sampled_without_a_request_id_is_near_the_ratio(ratio: float) -> None:
    """Seeded uniform fallbacks: the share kept is the ratio ± 2 % over 20,000 samples."""
    rng = random.Random(13)
    kept = sum(is_sampled(None, ratio, rng.random()) for _ in range(20_000))
    assert kept / 20_000 == pytest.approx(ratio, abs=0.02)


@pytest.mark.parametrize("ratio", [0.1, 0.5, 0.9])
def test_the_share_sampled_by_request_id_is_near_the_ratio(ratio: float) -> None:
    """Hashed request ids: the share kept is the ratio ± 2 %, and a retried id is decided alike."""
    ids = [f"req-{i}" for i in range(20_000)]
    kept = [is_sampled(i, ratio, 0.0) for i in ids]
    assert sum(kept) / len(ids) == pytest.approx(ratio, abs=0.02)
    assert kept == [is_sampled(i, ratio, 0.99) for i in ids]  # the fallback plays no part


def test_sampling_edges() -> None:
    """Ratio 1 keeps everything, 0 nothing; a fallback equal to the ratio is not kept."""
    assert is_sampled(None, 1.0, 0.999) and is_sampled("a", 1.0, 0.0)
    assert not is_sampled(None, 0.0, 0.0) and not is_sampled("a", 0.0, 0.0)
    assert not is_sampled(None, 0.25, 0.25) and is_sampled(None, 0.25, 0.2499)
