"""The picture an SRE looks at: the image with OCR boxes and a caption of the verdict.

Box colours: green = every word matched an expected word, amber = misspelt (near an expected
word), red = text nobody asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from driftmon.scoring.text import TextScores
from driftmon.scoring.types import Detection

GREEN = (22, 163, 74)
AMBER = (234, 179, 8)
RED = (220, 38, 38)
_FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "DejaVuSans.ttf",
)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for path in _FONT_PATHS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default()


def detection_colour(index: int, scores: TextScores) -> tuple[int, int, int]:
    """Colour of detection `index` from its words' evidence."""
    words = [w for w in scores.words if w.detection_index == index]
    if not words or any(w.near_match is None for w in words):
        return RED
    return GREEN if all(w.matched for w in words) else AMBER


def _caption(scores: TextScores) -> str:
    fidelity = "n/a" if scores.text_fidelity is None else f"{scores.text_fidelity:.2f}"
    return (
        f"expected: {scores.expected_text or '(none)'}\n"
        f"read:     {scores.ocr_text or '(nothing)'}\n"
        f"fidelity {fidelity}   hallucination {scores.hallucination:.2f}"
    )


def render_overlay(image: np.ndarray, detections: Sequence[Detection], scores: TextScores) -> Image.Image:
    """The image with coloured boxes and a caption strip below it."""
    height, width = image.shape[:2]
    font_size = max(12, min(24, width // 40))
    caption_height = font_size * 4
    canvas = Image.new("RGB", (width, height + caption_height), (17, 24, 39))
    canvas.paste(Image.fromarray(image), (0, 0))
    draw = ImageDraw.Draw(canvas)
    line_width = max(2, width // 256)
    for index, det in enumerate(detections):
        colour = detection_colour(index, scores)
        draw.polygon([tuple(p) for p in det.box], outline=colour, width=line_width)
    draw.multiline_text(
        (8, height + 4), _caption(scores), fill=(243, 244, 246), font=_font(font_size), spacing=2
    )
    return canvas
