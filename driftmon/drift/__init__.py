"""Drift: how far current values are from a reference (pure statistics, no torch).

* :mod:`driftmon.drift.statistics`: two-sample statistics of one scalar signal (KS, PSI,
  Wasserstein), used by the rules' ``drift(...)`` function.
* :mod:`driftmon.drift.embedding`: embedding drift of image-embedding sets (mean distance and a
  classifier two-sample test, each with a significance test) and the per-version windows.
* :mod:`driftmon.drift.monitor`: the daemon's embedding-drift job (reference per version by the
  rules' baseline rule, results published as metrics and rule readings); imported on its own.
"""

from driftmon.drift.embedding import EmbeddingDrift, EmbeddingDriftTracker, embedding_drift
from driftmon.drift.statistics import drift_statistic

__all__ = ["EmbeddingDrift", "EmbeddingDriftTracker", "drift_statistic", "embedding_drift"]
