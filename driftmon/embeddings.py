"""Embedding drift in the daemon: which model version is the reference, and publishing results.

The reference is the model version that served before the newest one (the model-swap case);
while only one version has served, its first full window is frozen as the reference, so drift
within one version over time shows too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from driftmon.samples import ReadingSink
from driftmon.scoring.composition_metrics import CompositionMetrics
from driftmon.scoring.embedding_drift import EmbeddingDrift, EmbeddingDriftTracker

if TYPE_CHECKING:
    from driftmon.pipeline import Scored


def reference_version(order: Sequence[str], counts: Mapping[str, int], min_samples: int) -> str | None:
    """The newest version before the newest one with enough samples; else the only version (pure)."""
    ready = [v for v in order if counts.get(v, 0) >= min_samples]
    if not ready:
        return None
    earlier = [v for v in ready if v != order[-1]]
    return earlier[-1] if earlier else ready[0]


def drift_signals(drift: EmbeddingDrift) -> dict[str, float | None]:
    """The rule signals of one version's drift result."""
    return {
        "embedding_drift": 1.0 if drift.drifted else 0.0,
        "embedding_drift_auc": drift.classifier_auc,
        "embedding_drift_distance": drift.mean_distance,
    }


class EmbeddingMonitor:
    """Collects embeddings from the scoring thread (a `ScoreListener`); `evaluate` (the scheduled
    job, off the event loop) publishes drift."""

    def __init__(
        self,
        tracker: EmbeddingDriftTracker,
        metrics: CompositionMetrics,
        sink: ReadingSink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tracker = tracker
        self.metrics = metrics
        self.sink = sink
        self.clock = clock
        self._order: list[str] = []
        self._counts: dict[str, int] = {}
        self._reference: str | None = None
        self._lock = threading.Lock()

    def on_scored(self, scored: Scored) -> None:
        """`ScoreListener`: keep the sample's embedding, when it has one."""
        if scored.embedding is not None:
            self.add(scored.version, scored.embedding)

    def add(self, model_version: str, embedding: np.ndarray) -> None:
        with self._lock:
            if model_version not in self._counts:
                self._order.append(model_version)
            self._counts[model_version] = self._counts.get(model_version, 0) + 1
            self.tracker.add(model_version, embedding)

    def evaluate(self) -> dict[str, EmbeddingDrift]:
        """Pick the reference, compare every version with enough samples, publish the results."""
        with self._lock:
            reference = reference_version(self._order, self._counts, self.tracker.min_samples)
            if reference is not None and reference != self._reference:
                self.tracker.baseline_from(reference)
                self._reference = reference
            results = self.tracker.evaluate()
        now = self.clock()
        for version, drift in results.items():
            self.metrics.set_embedding_drift(version, drift)
            self.sink.record(now, {"model_version": version}, drift_signals(drift))
        return results
