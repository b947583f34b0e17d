"""Composition checks on real EasyOCR output (slow: loads the OCR weights once per session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from driftmon.config import CompositionConfig
from driftmon.samples import SampleMeta
from driftmon.scoring.composition import CompositionScorer
from driftmon.scoring.text import score_text

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FONT.is_file(), reason="DejaVu fonts not installed"),
]


def draw(words: list[tuple[str, tuple[int, int], int]], size: int = 512) -> np.ndarray:
    """Black words on white at the given positions and pixel sizes."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    pen = ImageDraw.Draw(image)
    for text, xy, px in words:
        pen.text(xy, text, font=ImageFont.truetype(str(FONT), px), fill=(0, 0, 0))
    return np.asarray(image).copy()


def test_ocr_clipped_and_tiny_text(ocr_reader) -> None:
    """Real OCR on a batch: a word running off the right edge is a clipped margin violation;
    centred large text passes; 8 px text is not legible while large text is."""
    clipped = draw([("OPEN", (60, 200), 64), ("LATE", (430, 200), 64)])
    centred = draw([("OPEN LATE", (90, 220), 56)])
    tiny = draw([("SALE", (150, 150), 72), ("today", (200, 330), 10)])
    images = [clipped, centred, tiny]
    expected = [["OPEN LATE"], ["OPEN LATE"], ["SALE today"]]
    detections = ocr_reader.read(images)
    texts = [score_text(e, d) for e, d in zip(expected, detections, strict=True)]
    metas = [SampleMeta(prompt=f'a sign "{e[0]}"', size=(512, 512)) for e in expected]
    results = CompositionScorer(CompositionConfig()).score_batch(images, detections, texts, metas)

    edge = results[0]
    assert edge.scores["margin_violation"] == 1.0, texts[0]
    assert any(box["clipped"] for box in edge.evidence["outside_safe_area"])
    assert results[1].scores["margin_violation"] == 0.0, texts[1]
    assert results[1].scores["legibility"] == 1.0

    words = {w["word"]: w for w in results[2].evidence["legibility"]}
    assert words["SALE"]["legible"], words
    assert not words["today"]["legible"]
    assert set(words["today"]["reasons"]) <= {"too_small", "not_read", "low_confidence"}
    assert results[2].scores["legibility"] == 0.5
