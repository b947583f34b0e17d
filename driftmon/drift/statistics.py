"""Two-sample drift statistics (pure, scipy-backed): larger means further from the reference.

ks           Kolmogorov–Smirnov statistic D (scipy.stats.ks_2samp), 0..1
psi          population stability index over 10 quantile bins of the reference
             (symmetric KL divergence via scipy.special.rel_entr); 0.1 = moderate, 0.25 = large
wasserstein  earth mover's distance (scipy.stats.wasserstein_distance) divided by the
             reference's standard deviation (as Evidently normalises it); raw distance when
             the reference is constant
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

#: added to empty bins so that PSI stays finite
PSI_EPSILON = 1e-4
PSI_BINS = 10


def ks_statistic(current: Array, reference: Array) -> float:
    """The two-sample Kolmogorov–Smirnov statistic D."""
    from scipy import stats  # imported on use: scipy.stats costs seconds at start-up

    # method="asymp": the statistic is the same; it skips the exact p-value, which costs more
    return float(stats.ks_2samp(current, reference, method="asymp").statistic)


def psi(current: Array, reference: Array, bins: int = PSI_BINS) -> float:
    """Population stability index of `current` against quantile bins of `reference`."""
    from scipy import special

    inner = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)))[1:-1]
    size = len(inner) + 1
    expected = np.bincount(np.searchsorted(inner, reference, "right"), minlength=size) / len(reference)
    actual = np.bincount(np.searchsorted(inner, current, "right"), minlength=size) / len(current)
    expected, actual = expected + PSI_EPSILON, actual + PSI_EPSILON
    return float(np.sum(special.rel_entr(actual, expected) + special.rel_entr(expected, actual)))


def wasserstein(current: Array, reference: Array) -> float:
    """Wasserstein distance divided by the reference's standard deviation (raw if it is 0)."""
    from scipy import stats

    distance = float(stats.wasserstein_distance(current, reference))
    spread = float(np.std(reference))
    return distance / spread if spread > 0 else distance


METHODS: dict[str, Callable[[Array, Array], float]] = {
    "ks": ks_statistic,
    "psi": psi,
    "wasserstein": wasserstein,
}


def drift_statistic(method: str, current: Array, reference: Array) -> float:
    """The `method` statistic of `current` against `reference` (both non-empty)."""
    return METHODS[method](current, reference)
