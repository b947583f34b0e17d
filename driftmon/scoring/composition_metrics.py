"""Prometheus metric families of the composition, alignment and embedding-drift checks.

Names are a contract (docs/composition.md, "Metrics"). Ratios are 0..1 and end in ``_ratio``;
counters end in ``_total``. ``source`` and ``model_version`` are bounded by the caller (the
daemon folds model versions past its limit into "other").
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from driftmon.scoring.embedding_drift import METHODS, EmbeddingDrift

LABELS = ("source", "model_version")
RATIO_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
#: variance of the Laplacian: < 100 is commonly blurred, sharp photos reach thousands
SHARPNESS_BUCKETS = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0)
CLIP_SCORE_BUCKETS = (0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 2.5)
#: the score names counted by driftmon_composition_checks_total's `check` label
CHECKS = (
    "margin_violation", "safe_area_ratio", "legibility", "blank", "sharpness", "size_ok",
    "object_count_match", "clip_score",
)


class CompositionMetrics:
    """The families, registered on `registry` (default: the global one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        reg = REGISTRY if registry is None else registry
        self.checks = Counter(
            "driftmon_composition_checks", "Images on which a composition or alignment check "
            "produced a value, by check.", (*LABELS, "check"), registry=reg)
        self.margin_violations = Counter(
            "driftmon_composition_margin_violations", "Images with expected text or an object "
            "outside the safe area, or clipped text.", LABELS, registry=reg)
        self.blank_images = Counter(
            "driftmon_composition_blank_images", "Uniform or near-black images.", LABELS,
            registry=reg)
        self.size_mismatches = Counter(
            "driftmon_composition_size_mismatches", "Images whose size differs from the "
            "requested size.", LABELS, registry=reg)
        self.safe_area = Histogram(
            "driftmon_composition_safe_area_ratio", "Share of the checked boxes' area inside "
            "the safe area.", LABELS, buckets=RATIO_BUCKETS, registry=reg)
        self.legibility = Histogram(
            "driftmon_composition_legibility_ratio", "Share of expected words that are "
            "legible.", LABELS, buckets=RATIO_BUCKETS, registry=reg)
        self.sharpness = Histogram(
            "driftmon_composition_sharpness", "Variance of the Laplacian of the grey image.",
            LABELS, buckets=SHARPNESS_BUCKETS, registry=reg)
        self.object_count = Histogram(
            "driftmon_composition_object_count_match_ratio", "Share of expected objects found "
            "in the expected number.", LABELS, buckets=RATIO_BUCKETS, registry=reg)
        self.clip_score = Histogram(
            "driftmon_alignment_clip_score", "CLIPScore between prompt and image (0..2.5).",
            LABELS, buckets=CLIP_SCORE_BUCKETS, registry=reg)
        self.embedding_drift = Gauge(
            "driftmon_embedding_drift", "Embedding drift of recent images against the "
            "baseline, by method (mean_distance, classifier_auc and their p-values).",
            ("method", "model_version"), registry=reg)
        self.embedding_drift_threshold = Gauge(
            "driftmon_embedding_drift_threshold", "Drift is reported when a statistic is above "
            "its threshold and its p-value below alpha, by method.", ("method",), registry=reg)
        self.embedding_drift_detected = Gauge(
            "driftmon_embedding_drift_detected", "1 when either method reports embedding "
            "drift for the model version, else 0.", ("model_version",), registry=reg)

    def observe(self, source: str, model_version: str, scores: Mapping[str, float | None]) -> None:
        """Record one image's composition scores (None values are skipped)."""
        labels = {"source": source, "model_version": model_version}
        for check in CHECKS:
            if scores.get(check) is not None:
                self.checks.labels(**labels, check=check).inc()
        self._count(self.margin_violations, labels, scores.get("margin_violation"))
        self._count(self.blank_images, labels, scores.get("blank"))
        size_ok = scores.get("size_ok")
        self._count(self.size_mismatches, labels, None if size_ok is None else 1 - size_ok)
        for histogram, key in (
            (self.safe_area, "safe_area_ratio"), (self.legibility, "legibility"),
            (self.sharpness, "sharpness"), (self.object_count, "object_count_match"),
            (self.clip_score, "clip_score"),
        ):
            value = scores.get(key)
            if value is not None:
                histogram.labels(**labels).observe(value)

    @staticmethod
    def _count(counter: Counter, labels: Mapping[str, str], flag: float | None) -> None:
        child = counter.labels(**labels)  # created at 0 so rates exist before the first event
        if flag:
            child.inc()

    def set_embedding_drift(self, model_version: str, drift: EmbeddingDrift) -> None:
        """Publish the statistics of `model_version`, their thresholds and the verdict."""
        for method in METHODS:
            self.embedding_drift.labels(method=method, model_version=model_version).set(
                drift.value(method)
            )
        thresholds = {
            "mean_distance": drift.distance_threshold, "classifier_auc": drift.auc_threshold,
            "mean_distance_p_value": drift.alpha, "classifier_p_value": drift.alpha,
        }
        for method, threshold in thresholds.items():
            self.embedding_drift_threshold.labels(method=method).set(threshold)
        self.embedding_drift_detected.labels(model_version=model_version).set(drift.drifted)

    def forget_model_version(self, model_version: str) -> None:
        """Drop the drift gauges of a model version no longer served."""
        for method in METHODS:
            with contextlib.suppress(KeyError):
                self.embedding_drift.remove(method, model_version)
        with contextlib.suppress(KeyError):
            self.embedding_drift_detected.remove(model_version)
