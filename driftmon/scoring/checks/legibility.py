"""Legibility: the share of expected words that are legible (pure).

Each expected word is attributed to a read word (exact matches first, then near matches); a word
is legible when its box is at least ``max(min_height_share × image height, min_height_px)`` high,
its OCR confidence is at least ``min_confidence`` and the WCAG contrast ratio between its text
and background pixels (split by Otsu's threshold on the grey levels inside its box; each side's
relative luminance is its median) is at least ``min_contrast``. Words not read are not legible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from driftmon.config import CompositionConfig
from driftmon.scoring.checks.base import Batch, Box, Finding, detection_box
from driftmon.scoring.text import TextScores, words_of
from driftmon.scoring.types import Detection

#: the `scoring.composition` section's defaults: the thresholds' defaults too
_CONFIG_DEFAULTS = CompositionConfig()


@dataclass(frozen=True, slots=True)
class LegibilityThresholds:
    """When a word is legible (see the module docstring)."""

    min_height_share: float = _CONFIG_DEFAULTS.min_height_share
    min_height_px: float = _CONFIG_DEFAULTS.min_height_px
    min_confidence: float = _CONFIG_DEFAULTS.min_confidence
    min_contrast: float = _CONFIG_DEFAULTS.min_contrast

    @classmethod
    def of(cls, config: CompositionConfig) -> LegibilityThresholds:
        """The thresholds a CompositionConfig sets."""
        return cls(
            config.min_height_share, config.min_height_px, config.min_confidence,
            config.min_contrast,
        )


@dataclass(frozen=True, slots=True)
class WordLegibility:
    """One expected word: legible or not, and why not (reasons empty when legible)."""

    word: str
    read_as: str | None
    reasons: tuple[str, ...]
    height_px: float | None
    confidence: float | None
    contrast: float | None

    @property
    def legible(self) -> bool:
        """No reason against it."""
        return not self.reasons

    def as_json(self) -> dict[str, Any]:
        """A JSON-able view for evidence."""
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "word": self.word, "read_as": self.read_as, "legible": self.legible,
            "reasons": list(self.reasons), "height_px": rounded(self.height_px),
            "confidence": rounded(self.confidence), "contrast": rounded(self.contrast),
        }


@dataclass(frozen=True, slots=True)
class LegibilityResult:
    """Legibility of one image: the share of expected words legible (None: none expected)."""

    score: float | None
    words: tuple[WordLegibility, ...]


def _linear(channel: np.ndarray) -> np.ndarray:
    c = channel / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


#: sRGB 8-bit value → linear value, as WCAG 2 defines relative luminance
_LINEAR_LUT = _linear(np.arange(256, dtype=np.float64))


def relative_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance (0..1) of each pixel of an RGB uint8 array (…×3)."""
    lin = _LINEAR_LUT[rgb]
    luminance: np.ndarray = lin[..., 0] * 0.2126 + lin[..., 1] * 0.7152 + lin[..., 2] * 0.0722
    return luminance


def contrast_ratio(l1: float, l2: float) -> float:
    """WCAG contrast ratio (1..21) of two relative luminances."""
    light, dark = max(l1, l2), min(l1, l2)
    return (light + 0.05) / (dark + 0.05)


def _crop(image: np.ndarray, box: Box) -> np.ndarray:
    height, width = image.shape[:2]
    left, top = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    right, bottom = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    return image[top:bottom, left:right]


def text_contrast(image: np.ndarray, box: Box) -> float:
    """WCAG contrast between the Otsu classes inside `box` of an RGB uint8 image (1.0: flat)."""
    crop = np.ascontiguousarray(_crop(image, box))
    if crop.size == 0:
        return 1.0
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    threshold, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    upper = grey > threshold
    if upper.all() or not upper.any():
        return 1.0
    luminance = relative_luminance(crop)
    return contrast_ratio(float(np.median(luminance[upper])), float(np.median(luminance[~upper])))


def _attribute(text_scores: TextScores) -> list[tuple[str, int | None]]:
    """Each expected word with the index (into `words`) of the read word standing for it.

    Exact matches are attributed first, then near matches; words compare case-insensitively
    so the attribution holds whichever case setting the text scores used.
    """
    expected = words_of(text_scores.expected_text, case_sensitive=True)
    free: dict[str, list[int]] = {}
    for position, word in enumerate(expected):
        free.setdefault(word.casefold(), []).append(position)
    chosen: list[int | None] = [None] * len(expected)
    for exact in (True, False):
        for index, read in enumerate(text_scores.words):
            target = read.word if exact else read.near_match
            if read.matched != exact or target is None:
                continue
            slots = free.get(target.casefold())
            if slots:
                chosen[slots.pop(0)] = index
    return list(zip(expected, chosen, strict=True))


def _word_legibility(
    word: str,
    index: int | None,
    text_scores: TextScores,
    detections: Sequence[Detection],
    image: np.ndarray,
    limits: LegibilityThresholds,
    contrasts: dict[int, float],
) -> WordLegibility:
    if index is None:
        return WordLegibility(word, None, ("not_read",), None, None, None)
    read = text_scores.words[index]
    det = detections[read.detection_index]
    if read.detection_index not in contrasts:
        contrasts[read.detection_index] = text_contrast(image, detection_box(det))
    contrast = contrasts[read.detection_index]
    min_height = max(limits.min_height_share * image.shape[0], limits.min_height_px)
    reasons = tuple(
        reason
        for reason, failed in (
            ("too_small", read.box_height_px < min_height),
            ("low_confidence", read.confidence < limits.min_confidence),
            ("low_contrast", contrast < limits.min_contrast),
        )
        if failed
    )
    return WordLegibility(word, read.word, reasons, read.box_height_px, read.confidence, contrast)


def check_legibility(
    image: np.ndarray,
    detections: Sequence[Detection],
    text_scores: TextScores,
    limits: LegibilityThresholds,
) -> LegibilityResult:
    """Legibility of the expected words of one RGB uint8 image (see the module docstring)."""
    pairs = _attribute(text_scores)
    if not pairs:
        return LegibilityResult(None, ())
    contrasts: dict[int, float] = {}
    words = tuple(
        _word_legibility(word, index, text_scores, detections, image, limits, contrasts)
        for word, index in pairs
    )
    return LegibilityResult(sum(w.legible for w in words) / len(words), words)


class LegibilityCheck:
    """`legibility`."""

    name = "legibility"

    def __init__(self, limits: LegibilityThresholds) -> None:
        self.limits = limits

    def run(self, batch: Batch) -> list[Finding]:
        """One finding per image."""
        return [
            self._one(image, detections, text)
            for image, detections, text in zip(
                batch.images, batch.detections, batch.texts, strict=True
            )
        ]

    def _one(self, image: np.ndarray, detections: Sequence[Detection], text: TextScores) -> Finding:
        legibility = check_legibility(image, detections, text, self.limits)
        return Finding(
            {"legibility": legibility.score},
            {"legibility": [w.as_json() for w in legibility.words]},
        )
