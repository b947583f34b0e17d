"""Embedding drift in the daemon: which model version is each version's reference, and publishing.

The reference follows the rules' baselines (:mod:`driftmon.rules.baselines`): the pinned model
version while a pin exists, else the *previous* version (first seen before this one, seen last,
with at least ``min_samples`` embeddings) — the model-swap case. A version with neither (the
first version, or the pinned one itself) is compared with its own first full window, so drift
within one version over time shows too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from driftmon.drift.embedding import EmbeddingDrift, EmbeddingDriftTracker
from driftmon.rules.baselines import previous_version
from driftmon.rules.window import VersionInfo
from driftmon.samples import ReadingSink
from driftmon.scoring.composition_metrics import CompositionMetrics

if TYPE_CHECKING:
    from driftmon.pipeline import Scored


def reference_version(
    versions: Mapping[str, VersionInfo], current: str, pinned: str | None, min_samples: int
) -> str | None:
    """The pinned version, else the previous version (rules' rule); None for the pinned one itself
    or a version with no previous one (pure)."""
    if pinned is not None:
        return None if pinned == current else pinned
    return previous_version(dict(versions), current, min_samples)


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
        pinned: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.tracker = tracker
        self.metrics = metrics
        self.sink = sink
        self.clock = clock
        self.pinned = pinned
        #: per version: first and last seen as the ordinal of the embedding, and how many
        self._versions: dict[str, VersionInfo] = {}
        self._seen = 0
        self._lock = threading.Lock()

    def on_scored(self, scored: Scored) -> None:
        """`ScoreListener`: keep the sample's embedding, when it has one."""
        if scored.embedding is not None:
            self.add(scored.version, scored.embedding)

    def add(self, model_version: str, embedding: np.ndarray) -> None:
        with self._lock:
            self._seen += 1
            info = self._versions.setdefault(model_version, VersionInfo(self._seen, self._seen))
            info.last_seen = self._seen
            info.count += 1
            self.tracker.add(model_version, embedding)

    def references(self) -> dict[str, str | None]:
        """Each version's reference version (None: its own first full window)."""
        pinned = self.pinned()
        return {
            version: reference_version(self._versions, version, pinned, self.tracker.min_samples)
            for version in self._versions
        }

    def evaluate(self) -> dict[str, EmbeddingDrift]:
        """Compare every version with enough samples with its reference, publish the results."""
        with self._lock:
            results = self.tracker.evaluate(self.references())
        now = self.clock()
        for version, drift in results.items():
            self.metrics.set_embedding_drift(version, drift)
            self.sink.record(now, {"model_version": version}, drift_signals(drift))
        return results
