"""What every composition check shares: the batch it reads, the finding it returns per image,
and the `Check` protocol the composition scorer runs them behind, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from driftmon.samples import SampleMeta
from driftmon.scoring.text import TextScores
from driftmon.scoring.types import Detection

#: (left, top, right, bottom) in pixels
Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Finding:
    """What one check found on one image.

    `scores` are catalogue names (driftmon.signals; bools as 0/1), `evidence` is JSON-able;
    `object_boxes` ((label, box) pairs) and `embedding` are for later checks and the scorer.
    """

    scores: Mapping[str, float | None] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    object_boxes: tuple[tuple[str, Box], ...] = ()
    embedding: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """The images of one batch with their OCR, text scores and meta (same order), and per image
    the findings of the checks that ran before."""

    images: Sequence[np.ndarray]
    detections: Sequence[Sequence[Detection]]
    texts: Sequence[TextScores]
    metas: Sequence[SampleMeta]
    earlier: tuple[tuple[Finding, ...], ...] = ()

    def __post_init__(self) -> None:
        if not self.earlier:
            object.__setattr__(self, "earlier", tuple(() for _ in self.images))

    def with_findings(self, findings: Sequence[Finding]) -> Batch:
        """This batch with one more finding per image."""
        earlier = tuple((*e, f) for e, f in zip(self.earlier, findings, strict=True))
        return replace(self, earlier=earlier)

    def object_boxes(self, index: int) -> list[tuple[str, Box]]:
        """The object boxes earlier checks found in image `index`."""
        return [box for finding in self.earlier[index] for box in finding.object_boxes]


class Check(Protocol):
    """One composition check: one Finding per image of the batch, in order."""

    #: what logs call it
    name: str

    def run(self, batch: Batch) -> list[Finding]: ...


def flag(value: bool | None) -> float | None:
    """A bool as a 0/1 score (None stays None)."""
    return None if value is None else float(value)


def detection_box(detection: Detection) -> Box:
    """The axis-aligned bounds of an OCR detection."""
    return (detection.left, detection.top, detection.right, detection.bottom)
