"""Paired statistics for the gate (pure functions of numbers; seeded, so reports are reproducible)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Paired:
    """Candidate minus baseline over n pairs: means, the mean difference and its interval."""

    n: int
    baseline: float
    candidate: float
    diff: float
    lower: float
    upper: float
    p_value: float | None
    sd: float


def bootstrap_interval(
    diffs: Sequence[float], *, seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES, level: float = CONFIDENCE
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `diffs` (resampling pairs), seeded."""
    values = np.asarray(diffs, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no differences")
    if values.size == 1 or np.all(values == values[0]):
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def wilcoxon_p(diffs: Sequence[float]) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value; 1.0 when every difference is zero; None if n < 2."""
    values = np.asarray(diffs, dtype=np.float64)
    if values.size < 2:
        return None
    if np.all(values == 0):
        return 1.0
    return float(stats.wilcoxon(values, zero_method="zsplit").pvalue)


def pairs_needed(sd: float, effect: float = 0.05, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Pairs a two-sided paired test needs to see a mean difference of `effect` at this spread."""
    if sd <= 0 or effect <= 0:
        return None if sd < 0 else 2
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return max(2, math.ceil(float(z * sd / effect) ** 2))


def paired(baseline: Sequence[float], candidate: Sequence[float], *, seed: int = 0) -> Paired | None:
    """Paired comparison of equal-length sequences (None when there are no pairs)."""
    if len(baseline) != len(candidate):
        raise ValueError("paired sequences must have the same length")
    if not baseline:
        return None
    base, cand = np.asarray(baseline, np.float64), np.asarray(candidate, np.float64)
    diffs = cand - base
    lower, upper = bootstrap_interval(diffs.tolist(), seed=seed)
    sd = float(diffs.std(ddof=1)) if diffs.size > 1 else 0.0
    return Paired(
        n=int(diffs.size),
        baseline=float(base.mean()),
        candidate=float(cand.mean()),
        diff=float(diffs.mean()),
        lower=lower,
        upper=upper,
        p_value=wilcoxon_p(diffs.tolist()),
        sd=sd,
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100, linear interpolation), None for no values."""
    return float(np.percentile(np.asarray(values, np.float64), q)) if len(values) else None
