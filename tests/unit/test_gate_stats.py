"""The gate's paired statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from driftmon.gate.stats import bootstrap_interval, paired, pairs_needed, percentile, wilcoxon_p


def test_bootstrap_interval_is_seeded_and_brackets_the_mean() -> None:
    rng = np.random.default_rng(1)
    diffs = rng.normal(-0.1, 0.05, 40).tolist()
    first, again = bootstrap_interval(diffs, seed=3), bootstrap_interval(diffs, seed=3)
    assert first == again
    lower, upper = first
    assert lower < float(np.mean(diffs)) < upper
    # close to the t interval at this size
    half = scipy_stats.t.ppf(0.975, 39) * np.std(diffs, ddof=1) / math.sqrt(40)
    assert abs((upper - lower) / 2 - half) < 0.3 * half


def test_identical_sides_have_a_zero_interval_and_p_one() -> None:
    result = paired([0.9, 1.0, 0.8], [0.9, 1.0, 0.8])
    assert result is not None
    assert (result.diff, result.lower, result.upper, result.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_a_consistent_drop_is_significant() -> None:
    base = [1.0] * 12
    cand = [0.7 + 0.01 * i for i in range(12)]
    result = paired(base, cand)
    assert result is not None and result.p_value is not None
    assert result.p_value < 0.01 and result.upper < 0
    assert result.baseline == 1.0 and result.candidate == pytest.approx(float(np.mean(cand)))


def test_no_pairs_is_none_and_unequal_lengths_are_refused() -> None:
    assert paired([], []) is None
    with pytest.raises(ValueError):
        paired([1.0], [1.0, 2.0])
    assert wilcoxon_p([0.1]) is None


def test_pairs_needed_follows_the_normal_approximation() -> None:
    # n = ((1.96 + 0.8416) · sd / 0.05)²; sd 0.1 → 31.4 → 32
    assert pairs_needed(0.1, 0.05) == 32
    assert pairs_needed(0.2, 0.05) == 126
    assert pairs_needed(0.0) == 2


def test_percentile() -> None:
    assert percentile([0.1, 0.2, 0.3, 0.4], 50) == pytest.approx(0.25)
    assert percentile([], 95) is None
