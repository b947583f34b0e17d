"""The scoring worker with the real OCR: batches, store, pictures, rule readings, shutdown spool."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from driftmon.artifacts import Artifacts
from driftmon.config import CompositionConfig
from driftmon.metrics import Metrics
from driftmon.pipeline import ScoringWorker
from driftmon.samples import Sample, SampleMeta
from driftmon.scoring.composition import CompositionScorer
from driftmon.scoring.scorer import Scorer
from driftmon.store import Store
from driftmon.store.spool import Spool
from tests.imaging import png_bytes, render_lines
from tests.integration.servers import wait_until

pytestmark = pytest.mark.slow


class Readings:
    """A ReadingSink that remembers what it was given."""

    def __init__(self) -> None:
        self.items: list[tuple[float, dict[str, str], dict[str, float | None]]] = []

    def record(self, ts: float, labels: Mapping[str, str], values: Mapping[str, float | None]) -> None:
        self.items.append((ts, dict(labels), dict(values)))


def sample(sample_id: str, text: str, expected: str, version: str) -> Sample:
    image = render_lines([text], size=(320, 160), font_size=40, origin=(20, 50))
    meta = SampleMeta(prompt=f'a sign that says "{expected}"', model_version=version, latency_seconds=0.1)
    return Sample(sample_id, "push", time.time(), meta, None, png_bytes(image))


def test_worker_scores_stores_and_keeps_failing_pictures(tmp_path: Path, ocr_reader) -> None:
    """Good and bad samples are scored in batches; the bad one keeps its picture; readings flow."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    store = Store(tmp_path / "db.sqlite")
    readings = Readings()
    scorer = Scorer(ocr_reader, composition=CompositionScorer(CompositionConfig()))
    worker = ScoringWorker(
        lambda: scorer, store, metrics, Artifacts(tmp_path / "art", 100, 3600), sink=readings, batch_size=4
    )
    worker.submit(sample("good", "OPEN", "OPEN", "v1"))
    worker.submit(sample("bad", "QPFN", "OPEN", "v2"))
    worker.start()
    wait_until(lambda: store.count() == 2, 180, what="two scored samples")
    good, bad = store.get("good"), store.get("bad")
    assert good is not None and bad is not None
    assert good.scores["text_fidelity"] == 1.0 and not good.failing and good.overlay_path is None
    assert bad.scores["text_fidelity"] < 0.85 and bad.failing
    assert bad.overlay_path is not None and Path(bad.overlay_path).is_file()
    assert "legibility" in good.scores and "margin_violation" in good.scores
    scored_readings = [values for _, labels, values in readings.items if "text_fidelity" in values]
    assert len(scored_readings) == 2
    assert (
        registry.get_sample_value(
            "driftmon_text_fidelity_ratio_count", {"source": "push", "model_version": "v2"}
        )
        == 1.0
    )
    assert worker.stop(5.0, Spool(tmp_path / "spool")) == 0


def test_stop_spools_what_is_left(tmp_path: Path, ocr_reader) -> None:
    """Samples still queued when the grace ends are spooled, not lost."""
    metrics = Metrics(CollectorRegistry())
    worker = ScoringWorker(lambda: Scorer(ocr_reader), Store(tmp_path / "db.sqlite"), metrics, None)
    for i in range(3):
        worker.submit(sample(f"s{i}", "OPEN", "OPEN", "v1"))
    spool = Spool(tmp_path / "spool")
    assert worker.stop(0.0, spool) == 3
    assert sorted(s.id for s in spool.drain()) == ["s0", "s1", "s2"]


def test_undecodable_sample_is_counted_not_fatal(tmp_path: Path, ocr_reader) -> None:
    """A truncated JPEG that passed intake's structural check is rejected by the worker, counted,
    and the next sample is still scored."""
    registry = CollectorRegistry()
    store = Store(tmp_path / "db.sqlite")
    worker = ScoringWorker(lambda: Scorer(ocr_reader), store, Metrics(registry), None)
    jpeg = png_bytes(render_lines(["OPEN"], size=(320, 160), font_size=40, origin=(20, 50)), "JPEG")
    worker.submit(
        Sample("broken", "push", time.time(), SampleMeta(model_version="v1"), None, jpeg[: len(jpeg) // 2])
    )
    worker.submit(sample("fine", "OPEN", "OPEN", "v1"))
    worker.start()
    wait_until(lambda: store.count() == 1, 180, what="the good sample scored")
    assert store.get("fine") is not None
    rejected = registry.get_sample_value(
        "driftmon_samples_total", {"source": "push", "model_version": "v1", "outcome": "rejected"}
    )
    assert rejected == 1.0
    worker.stop(5.0)
