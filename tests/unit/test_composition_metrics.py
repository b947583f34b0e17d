"""Composition metric families: values on a fresh registry, and promtool's lint is clean."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from driftmon.drift.embedding import EmbeddingDrift
from driftmon.scoring.composition_metrics import CompositionMetrics

LABELS = {"source": "push", "model_version": "v2"}


def scores(**overrides: float | None) -> dict[str, float | None]:
    """A full score mapping (values as the scorer emits them) with `overrides`."""
    base: dict[str, float | None] = {
        "margin_violation": 0.0, "safe_area_ratio": 1.0, "legibility": 0.75, "blank": 0.0,
        "sharpness": 250.0, "size_ok": 1.0, "object_count_match": None, "clip_score": 0.8,
    }
    return base | overrides


def drift(auc: float, p_value: float) -> EmbeddingDrift:
    """A drift result with the given classifier statistics and a small mean distance."""
    return EmbeddingDrift(0.05, 0.4, auc, p_value, 200, 200)


def test_observe_counts_and_histograms() -> None:
    """Violations, blanks and size mismatches count; ratios land in histograms; None skips."""
    registry = CollectorRegistry()
    metrics = CompositionMetrics(registry)
    metrics.observe("push", "v2", scores())
    metrics.observe("push", "v2", scores(margin_violation=1.0, blank=1.0, size_ok=0.0))
    value = registry.get_sample_value
    assert value("driftmon_composition_margin_violations_total", LABELS) == 1.0
    assert value("driftmon_composition_blank_images_total", LABELS) == 1.0
    assert value("driftmon_composition_size_mismatches_total", LABELS) == 1.0
    assert value("driftmon_composition_legibility_ratio_count", LABELS) == 2.0
    assert value("driftmon_composition_legibility_ratio_sum", LABELS) == 1.5
    assert value("driftmon_alignment_clip_score_bucket", LABELS | {"le": "0.8"}) == 2.0
    assert value("driftmon_composition_object_count_match_ratio_count", LABELS) is None
    checks = LABELS | {"check": "margin_violation"}
    assert value("driftmon_composition_checks_total", checks) == 2.0
    assert value("driftmon_composition_checks_total", LABELS | {"check": "object_count_match"}) is None


def test_counters_exist_at_zero_after_first_observation() -> None:
    """A clean image creates the violation counters at 0, so rate() works from the start."""
    registry = CollectorRegistry()
    CompositionMetrics(registry).observe("probe", "v1", scores())
    labels = {"source": "probe", "model_version": "v1"}
    assert registry.get_sample_value("driftmon_composition_margin_violations_total", labels) == 0.0


def test_embedding_drift_gauges() -> None:
    """Each method's statistic and its p-value (two families), its threshold, alpha and the
    verdict are published per version."""
    registry = CollectorRegistry()
    metrics = CompositionMetrics(registry)
    metrics.set_embedding_drift("v2", drift(0.81, 0.0001))
    value = registry.get_sample_value
    auc = {"method": "classifier_auc", "model_version": "v2"}
    assert value("driftmon_embedding_drift_statistic", auc) == 0.81
    assert value("driftmon_embedding_drift_p_value", auc) == 0.0001
    distance = {"method": "mean_distance", "model_version": "v2"}
    assert value("driftmon_embedding_drift_statistic", distance) == 0.05
    assert value("driftmon_embedding_drift_p_value", distance) == 0.4
    assert value("driftmon_embedding_drift_threshold", {"method": "classifier_auc"}) == 0.55
    assert value("driftmon_embedding_drift_alpha", {}) == 0.01
    assert value("driftmon_embedding_drift_threshold", {"method": "classifier_p_value"}) is None
    assert value("driftmon_embedding_drift_detected", {"model_version": "v2"}) == 1.0
    metrics.forget_model_version("v2")
    assert value("driftmon_embedding_drift_detected", {"model_version": "v2"}) is None
    assert value("driftmon_embedding_drift_statistic", auc) is None
    assert value("driftmon_embedding_drift_p_value", auc) is None


def test_families_register_on_separate_registries() -> None:
    """Two instances on two registries do not collide: each counts only its own observations."""
    first, second = CollectorRegistry(), CollectorRegistry()
    CompositionMetrics(first).observe("push", "v2", scores(margin_violation=1.0))
    CompositionMetrics(second).observe("push", "v2", scores())
    assert first.get_sample_value("driftmon_composition_margin_violations_total", LABELS) == 1.0
    assert second.get_sample_value("driftmon_composition_margin_violations_total", LABELS) == 0.0


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics_is_clean() -> None:
    """`promtool check metrics` reports no problem on every family, populated."""
    registry = CollectorRegistry()
    metrics = CompositionMetrics(registry)
    metrics.observe("push", "v2", scores(object_count_match=0.5, margin_violation=1.0))
    metrics.set_embedding_drift("v2", drift(0.5, 0.6))
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=generate_latest(registry),
        capture_output=True, timeout=30, check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == ""
