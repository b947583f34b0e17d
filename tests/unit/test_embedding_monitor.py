"""Embedding drift in the daemon: the reference is the previous version or the pin; results are
published."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from prometheus_client import CollectorRegistry

from driftmon.drift.embedding import EmbeddingDriftTracker
from driftmon.drift.monitor import EmbeddingMonitor, reference_version
from driftmon.rules.window import VersionInfo
from driftmon.scoring.composition_metrics import CompositionMetrics


class Sink:
    def __init__(self) -> None:
        self.records: list[tuple[dict[str, str], dict[str, float | None]]] = []

    def record(self, ts: float, labels: Mapping[str, str], values: Mapping[str, float | None]) -> None:
        self.records.append((dict(labels), dict(values)))


def test_reference_is_the_previous_version_or_the_pin() -> None:
    """Each version's reference is the rules' previous version (first seen before it, seen last,
    with enough samples), the pinned version while a pin exists; none for the first version."""
    versions = {"v1": VersionInfo(1, 60, 60), "v2": VersionInfo(61, 130, 70), "v3": VersionInfo(131, 135, 5)}
    assert reference_version(versions, "v2", None, 50) == "v1"
    assert reference_version(versions, "v3", None, 50) == "v2"
    assert reference_version(versions, "v1", None, 50) is None
    few = {"v1": VersionInfo(1, 10, 10), "v2": VersionInfo(11, 20, 10)}
    assert reference_version(few, "v2", None, 50) is None
    assert reference_version(versions, "v3", "v1", 50) == "v1"
    assert reference_version(versions, "v1", "v1", 50) is None


def test_shifted_version_drifts_and_is_published() -> None:
    """A swap to a version whose embeddings moved is reported; the old version is not."""
    rng = np.random.default_rng(3)
    registry = CollectorRegistry()
    sink = Sink()
    monitor = EmbeddingMonitor(
        EmbeddingDriftTracker(window=200, min_samples=60),
        CompositionMetrics(registry),
        sink,
        clock=lambda: 1000.0,
    )
    for _ in range(120):
        monitor.add("v1", rng.normal(0.0, 1.0, 16))
    monitor.evaluate()
    for _ in range(120):
        monitor.add("v2", rng.normal(0.6, 1.0, 16))
    assert monitor.references() == {"v1": None, "v2": "v1"}
    results = monitor.evaluate()
    assert results["v2"].drifted
    assert not results["v1"].drifted
    signals = {labels["model_version"]: values for labels, values in sink.records[-2:]}
    assert signals["v2"]["embedding_drift"] == 1.0
    auc = registry.get_sample_value(
        "driftmon_embedding_drift_statistic", {"method": "classifier_auc", "model_version": "v2"}
    )
    assert auc is not None and auc > 0.55
