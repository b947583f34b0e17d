"""Scoring at a bounded resolution: the OCR reads an image no larger than `max_side` pixels on
its longest side, and its boxes come back in the original image's pixels.

    small, scale = bounded(image, 1024)     # (image, Scale(1, 1)) when it already fits
    detections = [scale.detection(d) for d in ocr.read([small])[0]]

The resize happens once per image, after decoding (`Image.resize` with a reducing gap: a box
pre-reduction, then Lanczos), so the cost of detection and its memory stay bounded whatever
size the input; `max_side` 0 turns it off. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from driftmon.scoring.types import Detection, OcrEngine, Point

#: detection time grows with the pixels read (CRAFT at every pixel, no upscaling): 1024 is the
#: native size of most generators' images, read as they are (docs/ocr-engine.md)
DEFAULT_MAX_SIDE = 1024


@dataclass(frozen=True, slots=True)
class Scale:
    """Original pixels per resized pixel, on each axis."""

    x: float = 1.0
    y: float = 1.0

    def point(self, point: Point) -> Point:
        return (point[0] * self.x, point[1] * self.y)

    def detection(self, detection: Detection) -> Detection:
        """`detection` with its box in original pixels."""
        if self.x == 1.0 and self.y == 1.0:
            return detection
        a, b, c, d = detection.box
        box = (self.point(a), self.point(b), self.point(c), self.point(d))
        return Detection(box, detection.text, detection.confidence)


def bounded_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size to score at: (width, height) scaled so the longest side is at most `max_side`."""
    longest = max(width, height)
    if max_side <= 0 or longest <= max_side:
        return width, height
    ratio = max_side / longest
    return max(1, min(max_side, round(width * ratio))), max(1, min(max_side, round(height * ratio)))


def bounded(image: np.ndarray, max_side: int) -> tuple[np.ndarray, Scale]:
    """`image` (H×W×3 uint8) resized to fit `max_side`, and the scale back to its pixels."""
    height, width = image.shape[:2]
    size = bounded_size(width, height, max_side)
    if size == (width, height):
        return image, Scale()
    resized = Image.fromarray(image).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(resized), Scale(width / size[0], height / size[1])


def read_bounded(ocr: OcrEngine, images: Sequence[np.ndarray], max_side: int) -> list[list[Detection]]:
    """`ocr`'s detections of `images`, each read at most `max_side` on a side, in original pixels."""
    fitted = [bounded(image, max_side) for image in images]
    read = ocr.read([small for small, _ in fitted])
    return [[scale.detection(d) for d in dets] for (_, scale), dets in zip(fitted, read, strict=True)]
