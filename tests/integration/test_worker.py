"""Scoring with the real OCR in the scorer process, fed by the intake journal: batches, store,
pictures, rule readings; a shutdown leaves what is not scored in the journal (where the in-process
worker spooled it)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from driftmon.config import CompositionConfig
from driftmon.metrics import Metrics
from driftmon.pipeline import RuleReadings
from driftmon.samples import Sample, SampleMeta
from driftmon.scoring.scorer import Scorer
from driftmon.store import Journal, Store
from driftmon.worker.child import ChildSettings, ScorerChild
from driftmon.worker.supervisor import Recorder, ScoringSupervisor
from tests.imaging import png_bytes, render_lines
from tests.integration.servers import wait_until

pytestmark = pytest.mark.slow


class RealScorer:
    """The factory the scorer process calls: EasyOCR on the CPU (offline weights) and the
    composition checks, as the worker had them (picklable: built in the child)."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir

    def __call__(self) -> Scorer:
        from driftmon.scoring.composition import CompositionScorer
        from driftmon.scoring.ocr import EasyOcrReader

        reader = EasyOcrReader(device="cpu", work_dir=self.work_dir)
        return Scorer(reader, composition=CompositionScorer(CompositionConfig()))


class Readings:
    """A ReadingSink that remembers what it was given."""

    def __init__(self) -> None:
        self.items: list[tuple[float, dict[str, str], dict[str, float | None]]] = []

    def record(self, ts: float, labels: Mapping[str, str], values: Mapping[str, float | None]) -> None:
        self.items.append((ts, dict(labels), dict(values)))


class Parts:
    """A journal, a store and a registry in one directory, and a supervisor over them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.journal = Journal(directory / "journal.db", 100, 1 << 26)
        self.store = Store(directory / "db.sqlite")
        self.registry = CollectorRegistry()
        self.readings = Readings()

    def supervisor(self, artifacts: Path | None = None) -> ScoringSupervisor:
        metrics = Metrics(self.registry)
        kept = (str(artifacts), 100, 3600.0) if artifacts is not None else None
        child = ScorerChild(
            RealScorer(self.directory / "easyocr"), ChildSettings(artifacts=kept, warm_up=False)
        )
        recorder = Recorder(self.store, metrics, [RuleReadings(self.readings)], lambda name: None)
        return ScoringSupervisor(self.journal, child, recorder, metrics, batch_size=4, batch_timeout=300.0)


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    made = Parts(tmp_path)
    yield made
    made.journal.close()
    made.store.close()


def sample(sample_id: str, text: str, expected: str, version: str) -> Sample:
    image = render_lines([text], size=(320, 160), font_size=40, origin=(20, 50))
    meta = SampleMeta(prompt=f'a sign that says "{expected}"', model_version=version, latency_seconds=0.1)
    return Sample(sample_id, "push", time.time(), meta, None, png_bytes(image))


def test_worker_scores_stores_and_keeps_failing_pictures(parts: Parts) -> None:
    """Good and bad samples are scored in batches; the bad one keeps its picture; readings flow."""
    parts.journal.append(sample("good", "OPEN", "OPEN", "v1"))
    parts.journal.append(sample("bad", "QPFN", "OPEN", "v2"))
    supervisor = parts.supervisor(artifacts=parts.directory / "art")
    supervisor.start()
    try:
        wait_until(lambda: parts.store.count() == 2, 180, what="two scored samples")
    finally:
        left = supervisor.stop(5.0)
    good, bad = parts.store.get("good"), parts.store.get("bad")
    assert good is not None and bad is not None
    assert good.scores["text_fidelity"] == 1.0 and not good.failing and good.overlay_path is None
    assert bad.scores["text_fidelity"] < 0.85 and bad.failing
    assert bad.overlay_path is not None and Path(bad.overlay_path).is_file()
    assert "legibility" in good.scores and "margin_violation" in good.scores
    scored_readings = [values for _, labels, values in parts.readings.items if "text_fidelity" in values]
    assert len(scored_readings) == 2
    registry = parts.registry
    assert (
        registry.get_sample_value(
            "driftmon_text_fidelity_ratio_count", {"source": "push", "model_version": "v2"}
        )
        == 1.0
    )
    assert registry.get_sample_value("driftmon_artifacts_written_total") == 1.0
    assert left == 0


def test_stop_spools_what_is_left(parts: Parts) -> None:
    """Samples not scored when the grace ends stay in the journal (the spool's replacement), not
    lost, and no attempt is charged for them."""
    for i in range(3):
        parts.journal.append(sample(f"s{i}", "OPEN", "OPEN", "v1"))
    supervisor = parts.supervisor()
    supervisor.start()  # the scorer process is still loading its models when the grace ends
    assert supervisor.stop(0.0) == 3
    left = parts.journal.claim(10, lease_seconds=60)
    assert sorted(entry.sample.id for entry in left) == ["s0", "s1", "s2"]
    assert {entry.attempts for entry in left} == {1}


def test_undecodable_sample_is_counted_not_fatal(parts: Parts) -> None:
    """A truncated JPEG that passed intake's structural check is rejected by the scorer process,
    counted, and the next sample is still scored."""
    jpeg = png_bytes(render_lines(["OPEN"], size=(320, 160), font_size=40, origin=(20, 50)), "JPEG")
    broken = Sample(
        "broken", "push", time.time(), SampleMeta(model_version="v1"), None, jpeg[: len(jpeg) // 2]
    )
    parts.journal.append(broken)
    parts.journal.append(sample("fine", "OPEN", "OPEN", "v1"))
    supervisor = parts.supervisor()
    supervisor.start()
    try:
        wait_until(
            lambda: parts.store.count() == 1 and parts.journal.depth() == 0,
            180,
            what="the good sample scored",
        )
    finally:
        supervisor.stop(5.0)
    assert parts.store.get("fine") is not None
    rejected = parts.registry.get_sample_value(
        "driftmon_samples_total", {"source": "push", "model_version": "v1", "outcome": "rejected"}
    )
    assert rejected == 1.0
