"""After scoring: one listener protocol; a listener that raises cannot break scoring."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from driftmon.drift.embedding import EmbeddingDriftTracker
from driftmon.drift.monitor import EmbeddingMonitor
from driftmon.metrics import Metrics
from driftmon.pipeline import RuleReadings, Scored, ScoreObserver, ScoringWorker
from driftmon.samples import Sample, SampleMeta, ScoredSample
from driftmon.scoring.composition_metrics import CompositionMetrics
from driftmon.store import Store

EMBEDDING = np.ones(4, dtype=np.float32)


class FakeScorer:
    """Every image reads as the expected text, with an embedding."""

    def score_batch(self, images: list[Any], expected: list[Any], metas: Any = None) -> list[Any]:
        text = SimpleNamespace(ocr_text="OPEN", expected_text="OPEN")
        scores = {"text_fidelity": 1.0, "legibility": 0.5}
        return [SimpleNamespace(text=text, detections=(), scores=scores, evidence={}, embedding=EMBEDDING)]


class Broken:
    def on_scored(self, scored: Scored) -> None:
        raise RuntimeError("listener bug")


class Heard:
    def __init__(self) -> None:
        self.items: list[Scored] = []
        self.done = threading.Event()

    def on_scored(self, scored: Scored) -> None:
        self.items.append(scored)
        self.done.set()


class Readings:
    def __init__(self) -> None:
        self.items: list[tuple[float, dict[str, str], dict[str, float | None]]] = []

    def record(self, ts: float, labels: Mapping[str, str], values: Mapping[str, float | None]) -> None:
        self.items.append((ts, dict(labels), dict(values)))


def test_a_broken_listener_is_logged_counted_and_the_others_still_hear(tmp_path: Path) -> None:
    """Listeners run in order; one raising is logged and counted, the sample stays scored and
    stored, and the listeners after it (observer, readings, the caller's) still hear it."""
    registry = CollectorRegistry()
    store = Store(tmp_path / "db.sqlite")
    observed: list[tuple[str, str, dict[str, float | None]]] = []
    readings, heard = Readings(), Heard()
    listeners = [
        Broken(),
        ScoreObserver(lambda source, version, scores: observed.append((source, version, dict(scores)))),
        RuleReadings(readings),
        heard,
    ]
    worker = ScoringWorker(FakeScorer, store, Metrics(registry), None, listeners=listeners)
    image = np.full((16, 16, 3), 255, np.uint8)
    worker.submit(Sample("s1", "push", 1000.0, SampleMeta(model_version="v1"), image))
    with capture_logs() as logs:
        worker.start()
        assert heard.done.wait(60), "the listener after the broken one was never told"
        worker.stop(5.0)
    assert store.get("s1") is not None
    assert heard.items[0].sample.id == "s1" and heard.items[0].version == "v1"
    assert heard.items[0].embedding is EMBEDDING
    assert observed == [("push", "v1", {"text_fidelity": 1.0, "legibility": 0.5})]
    assert [labels["model_version"] for _, labels, _ in readings.items] == ["v1"]
    assert readings.items[0][2]["text_fidelity"] == 1.0
    failed = [e for e in logs if e["event"] == "listener_failed"]
    assert [(e["listener"], e["id"]) for e in failed] == [("Broken", "s1")]
    assert registry.get_sample_value("driftmon_listener_errors_total", {"listener": "Broken"}) == 1.0


def test_sink_is_short_for_rule_readings(tmp_path: Path) -> None:
    """`sink=` adds a RuleReadings listener after the given ones."""
    readings, heard = Readings(), Heard()
    worker = ScoringWorker(
        FakeScorer, Store(tmp_path / "db.sqlite"), Metrics(CollectorRegistry()), None,
        listeners=[heard], sink=readings,
    )  # fmt: skip
    assert worker.listeners[0] is heard
    assert isinstance(worker.listeners[1], RuleReadings) and worker.listeners[1].sink is readings


def test_embedding_monitor_listens_to_embeddings_by_version(tmp_path: Path) -> None:
    """EmbeddingMonitor.on_scored keeps a sample's embedding under its version label; a sample
    without one is skipped."""
    monitor = EmbeddingMonitor(
        EmbeddingDriftTracker(window=10, min_samples=2), CompositionMetrics(CollectorRegistry()), Readings()
    )
    sample = ScoredSample("s1", "push", 1.0, 2.0, SampleMeta(), {}, "", "", {}, False)
    for _ in range(2):
        monitor.on_scored(Scored(sample, "other", EMBEDDING))
    monitor.on_scored(Scored(sample, "v2", None))
    assert monitor.references() == {"other": None}
    assert {version: info.count for version, info in monitor._versions.items()} == {"other": 2}
