"""Embedding drift on synthetic embeddings: no drift for an unshifted set, drift for a shift."""

from __future__ import annotations

import numpy as np
import pytest

from driftmon.drift.embedding import (
    EmbeddingDriftTracker,
    classifier_test,
    embedding_drift,
    mean_distance,
    mean_distance_test,
)

DIM = 64


def embeddings(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """`n` unit-norm vectors around a common centre (like CLIP image embeddings of one kind of
    picture), optionally moved by `shift` along a fixed direction before normalising."""
    rng = np.random.default_rng(seed)
    centre = np.random.default_rng(1234).normal(size=DIM)
    direction = np.random.default_rng(99).normal(size=DIM)
    rows = centre / np.linalg.norm(centre) + rng.normal(scale=0.6 / np.sqrt(DIM), size=(n, DIM))
    rows += shift * direction / np.linalg.norm(direction)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(5))
def test_unshifted_set_is_not_drift(seed: int) -> None:
    """Two 300-sample sets of one distribution: neither method reports drift."""
    result = embedding_drift(embeddings(300, seed), embeddings(300, seed + 100))
    assert not result.distance_drift, result
    assert not result.classifier_drift, result
    assert not result.drifted


@pytest.mark.parametrize("seed", range(3))
def test_shifted_set_is_drift(seed: int) -> None:
    """A set moved by 0.3 along one direction: both methods report drift."""
    result = embedding_drift(embeddings(300, seed), embeddings(300, seed + 100, shift=0.3))
    assert result.distance_drift and result.classifier_drift, result


def test_small_shift_is_seen_by_the_classifier_first() -> None:
    """A shift too small to move the means past 0.2 is still told apart by the classifier."""
    reference, current = embeddings(300, 7), embeddings(300, 8, shift=0.1)
    assert mean_distance(reference, current) < 0.2
    auc, p_value = classifier_test(reference, current)
    assert auc > 0.55 and p_value < 0.01


def test_false_alarm_rate_on_small_windows_is_bounded() -> None:
    """Over 40 pairs of unshifted 50-sample windows at most 5% report drift; AUC > 0.55 alone
    (without the significance test) would flag many more (29% measured on 200 pairs)."""
    results = [embedding_drift(embeddings(50, s), embeddings(50, s + 500)) for s in range(40)]
    assert sum(r.drifted for r in results) <= 2
    assert sum(r.classifier_auc > 0.55 for r in results) > sum(r.drifted for r in results)


def test_permutation_p_value_is_small_only_for_a_real_shift() -> None:
    """The distance permutation test: p large for one distribution, minimal for a shift."""
    _, same = mean_distance_test(embeddings(100, 1), embeddings(100, 2))
    distance, shifted = mean_distance_test(embeddings(100, 1), embeddings(100, 2, shift=0.3))
    assert same > 0.05
    assert shifted == pytest.approx(1 / 201) and distance > 0.2


def test_statistics_and_counts_are_reported() -> None:
    """The result carries both statistics, the set sizes and the thresholds used."""
    result = embedding_drift(embeddings(40, 1), embeddings(60, 2), 0.1, 0.6, 0.05)
    assert (result.n_reference, result.n_current) == (40, 60)
    assert (result.distance_threshold, result.auc_threshold, result.alpha) == (0.1, 0.6, 0.05)
    assert result.value("mean_distance") == result.mean_distance
    assert 0.0 <= result.value("classifier_auc") <= 1.0
    assert 0.0 < result.value("classifier_p_value") <= 1.0


def test_too_few_rows_is_an_error() -> None:
    """Fewer than four embeddings on either side cannot be tested."""
    with pytest.raises(ValueError, match="at least 4"):
        embedding_drift(embeddings(3, 0), embeddings(10, 1))


def test_tracker_needs_a_baseline_and_enough_samples() -> None:
    """Nothing is evaluated while a version's reference or the version itself has too few samples;
    a version with no reference is compared with its own first full window."""
    tracker = EmbeddingDriftTracker(window=100, min_samples=20)
    for row in embeddings(30, 3):
        tracker.add("v1", row)
    assert tracker.evaluate({"v1": "v0"}) == {}
    for row in embeddings(10, 4, shift=0.3):
        tracker.add("v2", row)
    assert list(tracker.evaluate({"v2": "v1"})) == ["v1"]


def test_tracker_flags_the_shifted_version_only() -> None:
    """Against v0's window, an unshifted v1 window is fine and a shifted v2 window drifts."""
    tracker = EmbeddingDriftTracker(window=200, min_samples=50)
    for row in embeddings(200, 10):
        tracker.add("v0", row)
    for row in embeddings(200, 11):
        tracker.add("v1", row)
    for row in embeddings(200, 12, shift=0.3):
        tracker.add("v2", row)
    result = tracker.evaluate({"v1": "v0", "v2": "v0"})
    assert not result["v1"].drifted
    assert result["v2"].drifted


def test_tracker_window_is_bounded() -> None:
    """Only the most recent `window` embeddings of a version are kept."""
    tracker = EmbeddingDriftTracker(window=5, min_samples=2)
    rows = embeddings(12, 5)
    for row in rows:
        tracker.add("v1", row)
    assert tracker.recent("v1").shape == (5, DIM)
    assert np.allclose(tracker.recent("v1"), rows[-5:])
    assert tracker.recent("nope").shape[0] == 0
