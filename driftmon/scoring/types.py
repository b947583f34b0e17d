"""Value types shared by the OCR engines and the pure scorers (no heavy imports here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Detection:
    """One OCR detection: a 4-point box (clockwise from top-left), its text and confidence."""

    box: tuple[Point, Point, Point, Point]
    text: str
    confidence: float

    @property
    def top(self) -> float:
        return min(y for _, y in self.box)

    @property
    def bottom(self) -> float:
        return max(y for _, y in self.box)

    @property
    def left(self) -> float:
        return min(x for x, _ in self.box)

    @property
    def right(self) -> float:
        return max(x for x, _ in self.box)

    @property
    def height(self) -> float:
        return self.bottom - self.top


class OcrEngine(Protocol):
    """Reads text from RGB uint8 images (H×W×3); one list of detections per image."""

    name: str
    device: str
    #: the characters the reader can output, or None when unknown (accent folding's `auto`)
    charset: frozenset[str] | None

    def read(self, images: Sequence[np.ndarray]) -> list[list[Detection]]: ...
