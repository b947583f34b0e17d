"""The values that travel through the daemon: samples in, scored samples and readings out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

#: the score names every scored sample carries (None where not applicable)
from driftmon.signals import TEXT_SCORES as TEXT_SCORES


@dataclass(frozen=True, slots=True)
class SampleMeta:
    """What the generator tells us about one output (the contract's meta fields)."""

    prompt: str | None = None
    expected_text: str | None = None
    model_version: str = "unknown"
    request_id: str | None = None
    latency_seconds: float | None = None
    steps: int | None = None
    seed: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    size: tuple[int, int] | None = None
    expected_objects: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """One image to score, with where it came from.

    `encoded` holds the bytes as received; `image` (RGB uint8) is decoded by the scoring worker
    when absent, so queued samples cost their compressed size, not their pixels.
    """

    id: str
    source: str
    received_at: float
    meta: SampleMeta
    image: np.ndarray | None
    encoded: bytes = b""


@dataclass(frozen=True, slots=True)
class ScoredSample:
    """A sample after scoring: flat scores (None = not applicable) plus evidence for humans."""

    id: str
    source: str
    received_at: float
    scored_at: float
    meta: SampleMeta
    scores: Mapping[str, float | None]
    ocr_text: str
    expected_text: str
    evidence: Mapping[str, Any]
    failing: bool
    image_path: str | None = None
    overlay_path: str | None = None

    @property
    def labels(self) -> dict[str, str]:
        """The sample's labels for rules and metrics: its own plus source and model_version."""
        return {**self.meta.labels, "source": self.source, "model_version": self.meta.model_version}


class ReadingSink(Protocol):
    """Receives time-stamped signal values (a scored sample's scores, probe outcomes, GPU)."""

    def record(self, ts: float, labels: Mapping[str, str], values: Mapping[str, float | None]) -> None: ...


def score_value(value: float | bool | None) -> float | None:
    """Scores as floats for storage and rules: bools become 0/1, None stays None."""
    if value is None:
        return None
    return float(value)
