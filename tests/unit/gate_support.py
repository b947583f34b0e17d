"""Test doubles for the gate: a reader that reads what the synthetic generator drew.

The demo generator records the lines it drew and their boxes in the PNG's ``driftmon-demo`` text
chunk. `DrawnTextReader` returns exactly those as OCR detections (what EasyOCR reads on v1's
clean renders, see test_demo_generator's real-OCR test), so every other part of the scoring path
(text scores, margins, legibility) is the real one, and the gate's tests run without OCR models.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from driftmon.samples import SampleMeta
from driftmon.scoring.types import Detection


def drawn_detections(png_path: Path) -> list[Detection]:
    """The generator's own record of what it drew, as detections (none without the chunk)."""
    with Image.open(png_path) as image:
        record = json.loads(image.info.get("driftmon-demo", '{"drawn": []}'))
    detections = []
    for text, (left, top, right, bottom) in record["drawn"]:
        box = ((left, top), (right, top), (right, bottom), (left, bottom))
        detections.append(Detection(box=box, text=text, confidence=0.99))  # type: ignore[arg-type]
    return detections


class _ListedOcr:
    name, device = "drawn-text", "cpu"

    def __init__(self) -> None:
        self.next: list[list[Detection]] = []

    def read(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        found, self.next = self.next, []
        return found


class DrawnTextReader:
    """A gate score backend: the real Scorer with an OCR engine that reads the drawn text."""

    version = "test-drawn-text"

    def __init__(self, out: Path) -> None:
        from driftmon.config import CompositionConfig
        from driftmon.scoring.composition import CompositionScorer
        from driftmon.scoring.scorer import Scorer

        self.out = out
        self.ocr = _ListedOcr()
        self.scorer = Scorer(self.ocr, composition=CompositionScorer(CompositionConfig(), device="cpu"))
        self.images_scored = 0

    def _path(self, meta: SampleMeta) -> Path:
        sha = meta.labels["image_sha256"]
        return next((self.out / "images").glob(f"{sha}.*"))

    def score_batch(
        self, images: Sequence[np.ndarray], expected: Sequence[Sequence[str]], metas: Sequence[SampleMeta]
    ) -> list[Any]:
        self.ocr.next = [drawn_detections(self._path(meta)) for meta in metas]
        self.images_scored += len(images)
        return self.scorer.score_batch(images, expected, metas)
