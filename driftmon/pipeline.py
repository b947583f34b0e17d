"""What scoring hands on: sampling by request id, the failing test, and the listeners of scored samples.

The scorer process (driftmon.worker.child) scores; the supervisor's `Recorder`
(driftmon.worker.supervisor) commits each outcome once and then tells every `ScoreListener` (composition
metrics, embedding drift, the rule engine's readings); a listener that raises is logged and counted
(`driftmon_listener_errors_total`) and the others still hear the sample.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from driftmon.samples import ReadingSink, ScoredSample
from driftmon.signals import BLANK, MARGIN_VIOLATION, TEXT_FIDELITY
from driftmon.store import reading_values


def is_sampled(request_id: str | None, ratio: float, fallback: float) -> bool:
    """Decide sampling from a hash of `request_id`, so a retried request is sampled alike.

    Without a request id the caller's `fallback` (a uniform random number) decides.
    """
    if ratio >= 1.0:
        return True
    if ratio <= 0.0:
        return False
    if request_id is None:
        return fallback < ratio
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < ratio


@dataclass(frozen=True, slots=True)
class Scored:
    """What every `ScoreListener` hears once a sample is scored and stored."""

    sample: ScoredSample
    #: the model version as a metric label (capped once per sample: metrics.max_model_versions)
    version: str
    #: the image embedding, when the composition checks computed one
    embedding: np.ndarray | None = None


class ScoreListener(Protocol):
    """Told about every scored sample, in the supervisor's thread: must be quick and must not block."""

    def on_scored(self, scored: Scored) -> None: ...


class RuleReadings:
    """Listener: a scored sample's readings (scores, latency) go to a ReadingSink (the rules)."""

    def __init__(self, sink: ReadingSink) -> None:
        self.sink = sink

    def on_scored(self, scored: Scored) -> None:
        sample = scored.sample
        self.sink.record(sample.received_at, sample.labels, reading_values(sample))


class ScoreObserver:
    """Listener: `observe(source, version, scores)`, e.g. the composition metrics."""

    def __init__(self, observe: Callable[[str, str, Mapping[str, float | None]], None]) -> None:
        self.observe = observe

    def on_scored(self, scored: Scored) -> None:
        self.observe(scored.sample.source, scored.version, scored.sample.scores)


def is_failing(scores: dict[str, float | None], failing_below: float) -> bool:
    """A sample worth a picture: low fidelity, text in the margin, or a blank frame."""
    fidelity = scores.get(TEXT_FIDELITY)
    return (
        (fidelity is not None and fidelity < failing_below)
        or scores.get(MARGIN_VIOLATION) == 1.0
        or scores.get(BLANK) == 1.0
    )
