"""Queue accounting that cannot drift (item 6), and sampling near its ratio: the edge tests that
deliberate one-line bugs in pipeline.py survived before."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from driftmon.metrics import Metrics
from driftmon.pipeline import ScoringWorker, is_sampled
from driftmon.samples import Sample, SampleMeta
from driftmon.store import Store


def _never_built() -> None:
    raise AssertionError("the scorer is not built in these tests")


def worker(tmp_path: Path, max_bytes: int, queue_size: int = 100) -> ScoringWorker:
    """A worker whose thread is never started: nothing takes samples off its queue."""
    return ScoringWorker(
        _never_built,  # type: ignore[arg-type]
        Store(tmp_path / "db.sqlite"),
        Metrics(CollectorRegistry()),
        None,
        queue_size=queue_size,
        queue_max_bytes=max_bytes,
    )


def sample(size: int, index: int = 0) -> Sample:
    return Sample(f"s{index}", "push", 0.0, SampleMeta(), None, b"x" * size)


def queued_bytes(w: ScoringWorker) -> int:
    """What the queue really holds, summed from its samples."""
    with w.queue.mutex:
        return sum(len(s.encoded) for s in w.queue.queue)


def test_eight_posts_of_99_bytes_under_a_198_byte_limit(tmp_path: Path) -> None:
    """Two fit, the other six are refused, and what is counted is what is queued (not 495 B
    queued while 198 B are counted, as before: a refusal released bytes it never reserved)."""
    w = worker(tmp_path, 198)
    answers = [w.submit(sample(99, i)) for i in range(8)]
    assert answers == [True, True] + [False] * 6
    assert w.queued_bytes == queued_bytes(w) == 198


def test_one_large_sample_on_an_empty_queue_is_taken(tmp_path: Path) -> None:
    """A sample larger than the limit is taken when the queue is empty (else it never could be)."""
    w = worker(tmp_path, 100)
    assert w.submit(sample(500))
    assert not w.submit(sample(1))
    assert w.queued_bytes == 500


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=60), st.integers(1, 1000), st.randoms())
def test_queued_bytes_never_pass_the_limit(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], limit: int, rng: random.Random
) -> None:
    """Over many posts with takes in between: the counted bytes equal the queued bytes, and pass
    the limit only by one sample taken on an empty queue."""
    w = worker(tmp_path_factory.mktemp("q"), limit)
    for index, size in enumerate(sizes):
        w.submit(sample(size, index))
        if rng.random() < 0.3 and not w.queue.empty():
            w._release(w.queue.get_nowait())  # what _take_batch does for each sample it takes
        held = queued_bytes(w)
        assert w.queued_bytes == held
        assert held <= limit or w.queue.qsize() == 1


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
