"""The SQLite store, artifact retention and an old release's shutdown spool taken over."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from driftmon.errors import StoreError
from driftmon.images.artifacts import Artifacts
from driftmon.pipeline import is_failing
from driftmon.samples import Sample, SampleMeta, ScoredSample
from driftmon.scoring.scorer import ScoreResult
from driftmon.scoring.text import score_text
from driftmon.store import Journal, Store, take_over_spool
from tests.imaging import png_bytes
from tests.spool_files import write_spool_pair


def scored(sample_id: str, ts: float, version: str = "v1", fidelity: float | None = 0.9) -> ScoredSample:
    return ScoredSample(
        id=sample_id,
        source="push",
        received_at=ts,
        scored_at=ts + 1,
        meta=SampleMeta(
            prompt='a "SIGN"',
            model_version=version,
            request_id=f"r-{sample_id}",
            latency_seconds=0.2,
            steps=30,
            seed=7,
            labels={"team": "a"},
        ),
        scores={"text_fidelity": fidelity, "exact_match": 1.0},
        ocr_text="SIGN",
        expected_text="SIGN",
        evidence={"words": []},
        failing=False,
    )


def test_samples_survive_restart(tmp_path: Path) -> None:
    """A sample written, the store closed and reopened: it is all there."""
    store = Store(tmp_path / "db.sqlite")
    store.add(scored("s1", 100.0))
    store.close()
    again = Store(tmp_path / "db.sqlite")
    sample = again.get("s1")
    assert sample is not None
    assert (sample.meta.seed, sample.meta.steps, sample.meta.labels) == (7, 30, {"team": "a"})
    assert sample.scores == {"text_fidelity": 0.9, "exact_match": 1.0}


def test_retention_by_age(tmp_path: Path) -> None:
    """Samples older than the cutoff are deleted, newer ones kept."""
    store = Store(tmp_path / "db.sqlite")
    for i, ts in enumerate((10.0, 20.0, 30.0)):
        store.add(scored(f"s{i}", ts))
    assert store.delete_older_than(25.0) == 2
    assert [s.id for s in store.recent()] == ["s2"]


def test_readings_carry_labels_and_signals(tmp_path: Path) -> None:
    """Stored samples read back as rule readings: labels plus scores, latency and steps."""
    store = Store(tmp_path / "db.sqlite")
    store.add(scored("s1", 50.0, version="v2"))
    (reading,) = list(store.iter_readings(0.0))
    assert reading.labels == {"team": "a", "source": "push", "model_version": "v2"}
    assert reading.values["latency_seconds"] == 0.2
    assert reading.values["steps"] == 30.0


def test_failed_writes_are_retried_then_raised(tmp_path: Path) -> None:
    """A locked database is retried with backoff; after the retries StoreError names the path."""
    store = Store(tmp_path / "db.sqlite", write_retries=2, sleep=lambda s: None)
    blocker = sqlite3.connect(tmp_path / "db.sqlite", timeout=0)
    blocker.execute("BEGIN EXCLUSIVE")
    store._conn.execute("PRAGMA busy_timeout=0")
    with pytest.raises(StoreError, match=r"db\.sqlite"):
        store.add(scored("s1", 1.0))
    assert store.write_failures == 3
    blocker.rollback()
    store.add(scored("s1", 1.0))
    assert store.count() == 1


def _result(image: np.ndarray) -> ScoreResult:
    text = score_text(["SIGN"], [])
    return ScoreResult(text, (), {"text_fidelity": 0.0})


def test_artifacts_retention_by_count_and_age(tmp_path: Path) -> None:
    """Pictures beyond the newest max_count, or older than the retention, are deleted in pairs."""
    now = 10_000.0
    artifacts = Artifacts(tmp_path, max_count=2, retention_seconds=100, clock=lambda: now)
    image = np.zeros((16, 16, 3), np.uint8)
    for i, age in enumerate((500, 50, 40, 30)):
        image_path, _ = artifacts.save(f"s{i}", image, _result(image))
        os.utime(image_path, (now - age, now - age))
    assert artifacts.prune() == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "s2.overlay.png",
        "s2.png",
        "s3.overlay.png",
        "s3.png",
    ]


def test_spool_round_trip(tmp_path: Path) -> None:
    """Samples an older release spooled at shutdown come back intact, once: taken over into the
    intake journal (the spool's replacement) and claimed from it."""
    spool = tmp_path / "spool"
    encoded = png_bytes(np.full((8, 8, 3), 77, np.uint8))
    meta = SampleMeta(prompt="p", model_version="v3", size=(8, 8), labels={"probe": "x"})
    write_spool_pair(spool, Sample("abc", "probe", 5.0, meta, np.zeros((1, 1, 3), np.uint8), encoded))
    journal = Journal(tmp_path / "journal.db", 10, 1 << 20)
    assert take_over_spool(spool, journal) == 1
    ((restored, attempts),) = [(entry.sample, entry.attempts) for entry in journal.claim(10, 60)]
    assert (restored.id, restored.source, restored.meta, attempts) == ("abc", "probe", meta, 1)
    assert restored.encoded == encoded and restored.image is None
    assert take_over_spool(spool, journal) == 0 and journal.depth() == 1


@pytest.mark.parametrize(
    ("scores", "failing"),
    [
        ({"text_fidelity": 0.5}, True),
        ({"text_fidelity": 0.9}, False),
        ({"text_fidelity": None}, False),
        ({"text_fidelity": 0.95, "margin_violation": 1.0}, True),
        ({"text_fidelity": None, "blank": 1.0}, True),
    ],
)
def test_failing_samples(scores: dict, failing: bool) -> None:
    """Low fidelity, text in the margin and blank frames keep their pictures."""
    assert is_failing(scores, 0.85) is failing
