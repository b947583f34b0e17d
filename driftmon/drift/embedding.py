"""Embedding drift: recent image embeddings of a model version against the baseline's.

Two methods (docs/composition.md, "Embedding drift"), each an effect size with Evidently's
default threshold plus a significance test, so that small windows do not raise false alarms:

* ``mean_distance``: Euclidean distance between the mean embeddings of the two sets (Evidently's
  ``distance`` method, threshold 0.2); its p-value comes from a permutation test (the distance
  recomputed on 200 random re-splittings of the pooled sets).
* ``classifier_auc``: a classifier two-sample test (Evidently's ``model`` method, threshold
  0.55). A logistic regression is fitted on a stratified half of the pooled sets and scores the
  other half; the score is its ROC AUC there (0.5: indistinguishable). Because the held-out
  half played no part in fitting, the one-sided Mann–Whitney U test of its scores (scipy) is an
  exact test of "no difference"; that is its p-value.

Drift by a method = its statistic above the threshold and its p-value below ``alpha``
(default 0.01). Measured here on synthetic 64-d embeddings without drift, the AUC threshold
alone flags 29% of 50-sample windows and 8.5% of 300-sample windows; with the test, 0% and 1.5%.

:func:`embedding_drift` is pure (values in, values out); :class:`EmbeddingDriftTracker` keeps
the bounded windows per model version and compares each with the window of its reference version
(chosen by :mod:`driftmon.drift.monitor` with the rules' baseline rule), or, with none, with its
own first full window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: the fields of EmbeddingDrift (statistics and their p-values)
METHODS = ("mean_distance", "classifier_auc", "mean_distance_p_value", "classifier_p_value")
#: the `method` label of ``driftmon_embedding_drift_statistic`` and ``…_p_value`` → the field of
#: its p-value
P_VALUE_OF = {"mean_distance": "mean_distance_p_value", "classifier_auc": "classifier_p_value"}
PERMUTATIONS = 200


@dataclass(frozen=True, slots=True)
class EmbeddingDrift:
    """Both drift statistics of a current set against a reference set, with their p-values."""

    mean_distance: float
    mean_distance_p_value: float
    classifier_auc: float
    classifier_p_value: float
    n_reference: int
    n_current: int
    distance_threshold: float = 0.2
    auc_threshold: float = 0.55
    alpha: float = 0.01

    @property
    def distance_drift(self) -> bool:
        """The mean embeddings are further apart than the threshold, significantly."""
        return self.mean_distance > self.distance_threshold and self.mean_distance_p_value < self.alpha

    @property
    def classifier_drift(self) -> bool:
        """A classifier tells the sets apart better than the threshold AUC, significantly."""
        return self.classifier_auc > self.auc_threshold and self.classifier_p_value < self.alpha

    @property
    def drifted(self) -> bool:
        """Either method reports drift."""
        return self.distance_drift or self.classifier_drift

    def value(self, method: str) -> float:
        """The statistic named `method` (one of METHODS)."""
        return float(getattr(self, method))


def mean_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """Euclidean distance between the mean rows of two embedding sets."""
    return float(np.linalg.norm(reference.mean(axis=0) - current.mean(axis=0)))


def mean_distance_test(
    reference: np.ndarray, current: np.ndarray, permutations: int = PERMUTATIONS, seed: int = 0
) -> tuple[float, float]:
    """(mean distance, permutation p-value = (1 + #permuted distances ≥ it) / (1 + permutations))."""
    observed = mean_distance(reference, current)
    pooled = np.vstack([reference, current])
    n = len(reference)
    rng = np.random.default_rng(seed)
    at_least = 0
    for _ in range(permutations):
        order = rng.permutation(len(pooled))
        at_least += mean_distance(pooled[order[:n]], pooled[order[n:]]) >= observed
    return observed, (1 + at_least) / (1 + permutations)


def classifier_test(reference: np.ndarray, current: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """(held-out ROC AUC of a logistic regression telling `current` from `reference`,
    one-sided Mann–Whitney p-value of its held-out scores)."""
    from scipy.stats import mannwhitneyu
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    features = np.vstack([reference, current])
    target = np.r_[np.zeros(len(reference)), np.ones(len(current))]
    x_fit, x_test, y_fit, y_test = train_test_split(
        features, target, test_size=0.5, stratify=target, random_state=seed
    )
    model = LogisticRegression(max_iter=1000).fit(x_fit, y_fit)
    scores = model.predict_proba(x_test)[:, 1]
    auc = float(roc_auc_score(y_test, scores))
    test = mannwhitneyu(scores[y_test == 1], scores[y_test == 0], alternative="greater")
    return auc, float(test.pvalue)


def embedding_drift(
    reference: np.ndarray,
    current: np.ndarray,
    distance_threshold: float = 0.2,
    auc_threshold: float = 0.55,
    alpha: float = 0.01,
    seed: int = 0,
) -> EmbeddingDrift:
    """Both statistics of `current` (n × d) against `reference` (m × d); each needs ≥ 4 rows."""
    if len(reference) < 4 or len(current) < 4:
        raise ValueError("embedding drift needs at least 4 reference and 4 current embeddings")
    distance, distance_p = mean_distance_test(reference, current, seed=seed)
    auc, auc_p = classifier_test(reference, current, seed)
    sizes = (len(reference), len(current))
    return EmbeddingDrift(distance, distance_p, auc, auc_p, *sizes, distance_threshold, auc_threshold, alpha)


class EmbeddingDriftTracker:
    """Bounded windows of recent embeddings per model version, each compared with a reference."""

    def __init__(
        self,
        window: int = 500,
        min_samples: int = 50,
        distance_threshold: float = 0.2,
        auc_threshold: float = 0.55,
        alpha: float = 0.01,
    ) -> None:
        self.window = window
        self.min_samples = max(min_samples, 4)
        self.thresholds = (distance_threshold, auc_threshold, alpha)
        self._recent: dict[str, deque[np.ndarray]] = {}
        self._first: dict[str, np.ndarray] = {}

    def add(self, model_version: str, embedding: np.ndarray) -> None:
        """Remember one image embedding of `model_version` (oldest dropped past the window)."""
        self._recent.setdefault(model_version, deque(maxlen=self.window)).append(
            np.asarray(embedding, dtype=np.float32)
        )

    def recent(self, model_version: str) -> np.ndarray:
        """The window of `model_version` as an n × d array (0 rows when none)."""
        rows = list(self._recent.get(model_version, ()))
        return np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def _baseline(self, model_version: str, reference: str | None) -> np.ndarray:
        """`reference`'s window; with no reference, the version's own first full window (frozen)."""
        if reference is not None:
            return self.recent(reference)
        if model_version not in self._first:
            self._first[model_version] = self.recent(model_version)
        return self._first[model_version]

    def evaluate(self, references: Mapping[str, str | None]) -> dict[str, EmbeddingDrift]:
        """Drift of each version with enough samples against its reference in `references` (a
        missing or None entry: its own first full window); skipped while the reference is short."""
        results = {}
        for version, rows in self._recent.items():
            if len(rows) < self.min_samples:
                continue
            baseline = self._baseline(version, references.get(version))
            if len(baseline) >= self.min_samples:
                results[version] = embedding_drift(baseline, self.recent(version), *self.thresholds)
        return results
