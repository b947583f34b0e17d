"""Prometheus metric families of the composition, alignment and embedding-drift checks.

Names are a contract (docs/composition.md, "Metrics"). Ratios are 0..1 and end in ``_ratio``;
counters end in ``_total``. ``source`` and ``model_version`` are bounded by the caller (the
daemon folds model versions past its limit into "other").
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter

from driftmon.drift.embedding import P_VALUE_OF, EmbeddingDrift
from driftmon.metrics import counter, gauge, histogram
from driftmon.signals import (
    COMPOSITION,
    COMPOSITION_CHECKS,
    EMBEDDING_DRIFT_ALPHA,
    EMBEDDING_DRIFT_DETECTED,
    EMBEDDING_DRIFT_P_VALUE,
    EMBEDDING_DRIFT_STATISTIC,
    EMBEDDING_DRIFT_THRESHOLD,
    Signal,
    of,
)

#: the score names counted by driftmon_composition_checks_total's `check` label
CHECKS = tuple(s.name for s in of(COMPOSITION))
#: composition scores with a family of their own
_FED = tuple(s for s in of(COMPOSITION) if s.metric is not None)


class CompositionMetrics:
    """The families (driftmon.signals), registered on `registry` (default: the global one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = REGISTRY if registry is None else registry
        self.checks = counter(COMPOSITION_CHECKS, reg)
        self.counters = {
            s.name: counter(s.metric, reg) for s in _FED if s.metric and s.metric.type == "counter"
        }
        self.histograms = {
            s.name: histogram(s.metric, reg)
            for s in _FED if s.metric and s.metric.type == "histogram"
        }
        self.embedding_drift_statistic = gauge(EMBEDDING_DRIFT_STATISTIC, reg)
        self.embedding_drift_p_value = gauge(EMBEDDING_DRIFT_P_VALUE, reg)
        self.embedding_drift_threshold = gauge(EMBEDDING_DRIFT_THRESHOLD, reg)
        self.embedding_drift_alpha = gauge(EMBEDDING_DRIFT_ALPHA, reg)
        self.embedding_drift_detected = gauge(EMBEDDING_DRIFT_DETECTED, reg)

    def observe(self, source: str, model_version: str, scores: Mapping[str, float | None]) -> None:
        """Record one image's composition scores (None values are skipped)."""
        labels = {"source": source, "model_version": model_version}
        for check in CHECKS:
            if scores.get(check) is not None:
                self.checks.labels(**labels, check=check).inc()
        for signal in _FED:
            value = scores.get(signal.name)
            if signal.name in self.counters:
                self._count(self.counters[signal.name], labels, signal, value)
            elif value is not None:
                self.histograms[signal.name].labels(**labels).observe(value)

    @staticmethod
    def _count(
        family: Counter, labels: Mapping[str, str], signal: Signal, value: float | None
    ) -> None:
        child = family.labels(**labels)  # created at 0 so rates exist before the first event
        if value is not None and signal.metric is not None and value == signal.metric.counts:
            child.inc()

    def set_embedding_drift(self, model_version: str, drift: EmbeddingDrift) -> None:
        """Publish the statistics of `model_version`, their thresholds and the verdict."""
        for method, p_value in P_VALUE_OF.items():
            labels = {"method": method, "model_version": model_version}
            self.embedding_drift_statistic.labels(**labels).set(drift.value(method))
            self.embedding_drift_p_value.labels(**labels).set(drift.value(p_value))
        thresholds = {"mean_distance": drift.distance_threshold, "classifier_auc": drift.auc_threshold}
        for method, threshold in thresholds.items():
            self.embedding_drift_threshold.labels(method=method).set(threshold)
        self.embedding_drift_alpha.set(drift.alpha)
        self.embedding_drift_detected.labels(model_version=model_version).set(drift.drifted)

    def forget_model_version(self, model_version: str) -> None:
        """Drop the drift gauges of a model version no longer served."""
        for method in P_VALUE_OF:
            for family in (self.embedding_drift_statistic, self.embedding_drift_p_value):
                with contextlib.suppress(KeyError):
                    family.remove(method, model_version)
        with contextlib.suppress(KeyError):
            self.embedding_drift_detected.remove(model_version)
