"""Composition checks: margins, legibility, image sanity (pure), and the scorer that runs them.

Definitions (docs/composition.md):

* margins: the safe area is the image less ``margin_share`` of its width (height) on the left
  and right (top and bottom). Checked boxes are the OCR detections holding an expected word
  (matched or near-matched) and the counted object boxes. ``safe_area_ratio`` = the checked
  boxes' area inside the safe area / their total area; ``margin_violation`` = some box is not
  wholly inside it, or a text box touches or crosses the image border (clipped text is always a
  violation, even with ``margin_share`` 0). None when nothing is checked.
* legibility: the share of expected words that are legible. Each expected word is attributed
  to a read word (exact matches first, then near matches); a word is legible when its box is at
  least ``max(min_height_share × image height, min_height_px)`` high, its OCR confidence is at
  least ``min_confidence`` and the WCAG contrast ratio between its text and background pixels
  (split by Otsu's threshold on the grey levels inside its box; each side's relative luminance
  is its median) is at least ``min_contrast``. Words not read are not legible.
* blank: the grey-level standard deviation is at most ``blank_max_std`` (uniform) or the 99th
  percentile grey level is at most ``blank_black_level`` (near-black).
* sharpness: the variance of the Laplacian (3×3 aperture) of the grey image at native size.
* size_ok: the image is exactly the requested width × height; None when none was requested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import structlog

from driftmon.config import CompositionConfig
from driftmon.counts import expected_counts
from driftmon.samples import SampleMeta
from driftmon.scoring.text import TextScores, words_of
from driftmon.scoring.types import Detection

if TYPE_CHECKING:
    from driftmon.scoring.alignment import ClipEmbedder
    from driftmon.scoring.objects import CountResult, ObjectDetector

log = structlog.get_logger("driftmon.scoring.composition")

#: (left, top, right, bottom) in pixels
Box = tuple[float, float, float, float]
#: a text box closer than this to the image border touches it
BORDER_PX = 1.0
#: the flat score names a CompositionResult carries (None where a check is off or n/a)
COMPOSITION_SCORES = (
    "margin_violation",
    "safe_area_ratio",
    "legibility",
    "blank",
    "sharpness",
    "size_ok",
    "object_count_match",
    "clip_score",
)


# ---------------------------------------------------------------------------------- margins


@dataclass(frozen=True, slots=True)
class CheckedBox:
    """One box the margin check looked at: text (an OCR detection) or a detected object."""

    kind: str
    label: str
    box: Box
    inside_ratio: float
    clipped: bool

    def as_json(self) -> dict[str, Any]:
        """A JSON-able view for evidence."""
        return {
            "kind": self.kind,
            "label": self.label,
            "box": [round(v, 1) for v in self.box],
            "inside_ratio": round(self.inside_ratio, 4),
            "clipped": self.clipped,
        }


@dataclass(frozen=True, slots=True)
class MarginResult:
    """Margin check of one image; `outside` lists the boxes not wholly in the safe area."""

    violation: bool | None
    safe_area_ratio: float | None
    outside: tuple[CheckedBox, ...]


def safe_area(width: int, height: int, margin_share: float) -> Box:
    """The safe area of a `width` × `height` image: `margin_share` off each side."""
    dx, dy = width * margin_share, height * margin_share
    return (dx, dy, width - dx, height - dy)


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _intersection(a: Box, b: Box) -> Box:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def inside_ratio(box: Box, area: Box) -> float:
    """Share of `box`'s area inside `area` (1.0 for a degenerate box wholly inside)."""
    total = _area(box)
    if total == 0:
        inside = area[0] <= box[0] and box[2] <= area[2] and area[1] <= box[1] and box[3] <= area[3]
        return 1.0 if inside else 0.0
    return _area(_intersection(box, area)) / total


def touches_border(box: Box, width: int, height: int) -> bool:
    """Whether `box` touches or crosses the border of a `width` × `height` image."""
    left, top, right, bottom = box
    return (
        left < BORDER_PX
        or top < BORDER_PX
        or right > width - BORDER_PX
        or bottom > height - BORDER_PX
    )


def detection_box(detection: Detection) -> Box:
    """The axis-aligned bounds of an OCR detection."""
    return (detection.left, detection.top, detection.right, detection.bottom)


def expected_text_indices(text_scores: TextScores) -> list[int]:
    """Indices of the detections holding an expected word (matched or near-matched)."""
    indices = {
        w.detection_index for w in text_scores.words if w.matched or w.near_match is not None
    }
    return sorted(indices)


def check_margins(
    text_boxes: Sequence[tuple[str, Box]],
    object_boxes: Sequence[tuple[str, Box]],
    width: int,
    height: int,
    margin_share: float,
) -> MarginResult:
    """Margins of one image's expected-text and object boxes ((label, box) pairs)."""
    area = safe_area(width, height, margin_share)
    checked = [
        CheckedBox(kind, label, box, inside_ratio(box, area),
                   kind == "text" and touches_border(box, width, height))
        for kind, boxes in (("text", text_boxes), ("object", object_boxes))
        for label, box in boxes
    ]
    if not checked:
        return MarginResult(None, None, ())
    total = sum(_area(c.box) for c in checked)
    inside = sum(_area(c.box) * c.inside_ratio for c in checked)
    ratio = inside / total if total > 0 else min(c.inside_ratio for c in checked)
    outside = tuple(c for c in checked if c.inside_ratio < 1.0 or c.clipped)
    return MarginResult(bool(outside), ratio, outside)


# ------------------------------------------------------------------------------- legibility


@dataclass(frozen=True, slots=True)
class LegibilityThresholds:
    """When a word is legible (see the module docstring)."""

    min_height_share: float = 0.03
    min_height_px: float = 10.0
    min_confidence: float = 0.5
    min_contrast: float = 3.0

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


# ----------------------------------------------------------------------------------- sanity


@dataclass(frozen=True, slots=True)
class SanityResult:
    """Blank, sharpness and size of one image, with the statistics behind them."""

    blank: bool
    sharpness: float
    size_ok: bool | None
    grey_std: float
    grey_p99: float


def grey(image: np.ndarray) -> np.ndarray:
    """The grey (BT.601 luma) version of an RGB uint8 image; grey images pass through."""
    if image.ndim == 2:
        return image
    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)


def percentile_u8(values: np.ndarray, q: float) -> float:
    """The `q`-th percentile (lower value) of uint8 values, from their histogram."""
    counts = np.bincount(values.ravel(), minlength=256)
    rank = q / 100.0 * (values.size - 1)
    return float(np.searchsorted(np.cumsum(counts), rank, side="right"))


def sharpness(grey_image: np.ndarray) -> float:
    """Variance of the Laplacian of a grey image (higher is sharper)."""
    return float(cv2.Laplacian(grey_image, cv2.CV_64F).var())


def check_sanity(
    image: np.ndarray,
    requested_size: tuple[int, int] | None,
    blank_max_std: float = 2.0,
    blank_black_level: float = 20.0,
) -> SanityResult:
    """Blank (uniform or near-black), sharpness and size check of one image."""
    g = grey(image)
    std = float(g.std())
    p99 = percentile_u8(g, 99.0)
    blank = std <= blank_max_std or p99 <= blank_black_level
    size_ok = None
    if requested_size is not None:
        size_ok = (image.shape[1], image.shape[0]) == tuple(requested_size)
    return SanityResult(blank, sharpness(g), size_ok, std, p99)


# ----------------------------------------------------------------------------------- scorer


@dataclass(frozen=True, slots=True)
class CompositionResult:
    """Composition and alignment of one image.

    `scores` holds every name in COMPOSITION_SCORES (bools as 0/1; None where a check is off
    or does not apply); `evidence` is JSON-able; `embedding` is the unit-norm CLIP image
    embedding when a CLIP model is configured.
    """

    scores: Mapping[str, float | None]
    evidence: Mapping[str, Any]
    embedding: np.ndarray | None = None


def _flag(value: bool | None) -> float | None:
    return None if value is None else float(value)


class CompositionScorer:
    """Runs the enabled checks over a batch; the detector and CLIP run once per batch.

    `detector` and `embedder` replace the models the config names (tests inject fakes). A
    model check whose directory is not configured is off, and says so once, here.
    """

    def __init__(
        self,
        config: CompositionConfig,
        device: str = "cpu",
        detector: ObjectDetector | None = None,
        embedder: ClipEmbedder | None = None,
    ) -> None:
        self.config = config
        self.device = device
        self.limits = LegibilityThresholds.of(config)
        self.detector = detector if detector is not None else self._load_detector()
        self.embedder = embedder if embedder is not None else self._load_embedder()

    def _load_detector(self) -> ObjectDetector | None:
        if not self.config.objects:
            return None
        if self.config.detector_dir is None:
            log.info("composition_check_off", check="object_count_match",
                     reason="scoring.composition.detector_dir is not set")
            return None
        from driftmon.scoring.objects import TransformersDetector

        return TransformersDetector(self.config.detector_dir, self._model_device())

    def _load_embedder(self) -> ClipEmbedder | None:
        if not (self.config.alignment or self.config.embedding_drift):
            return None
        if self.config.clip_dir is None:
            log.info("composition_check_off", check="clip_score, embedding_drift",
                     reason="scoring.composition.clip_dir is not set")
            return None
        from driftmon.scoring.alignment import ClipEmbedder

        return ClipEmbedder(self.config.clip_dir, self._model_device())

    def _model_device(self) -> str:
        """The device models load on: `auto` resolved as the OCR engine resolves it."""
        if self.device == "auto":
            from driftmon.scoring.ocr import resolve_device

            self.device = resolve_device("auto")
        return self.device

    def score_batch(
        self,
        images: Sequence[np.ndarray],
        detections: Sequence[Sequence[Detection]],
        text_scores: Sequence[TextScores],
        metas: Sequence[SampleMeta],
    ) -> list[CompositionResult]:
        """One CompositionResult per image, in order."""
        expected = [
            expected_counts(m.prompt, m.expected_objects, self.config.count_articles)
            for m in metas
        ]
        counts = self._counts(images, expected)
        embeddings, clip = self._alignment(images, metas)
        return [
            self._one(images[i], detections[i], text_scores[i], metas[i], counts[i],
                      None if embeddings is None else embeddings[i], clip[i])
            for i in range(len(images))
        ]

    def _counts(
        self, images: Sequence[np.ndarray], expected: list[dict[str, int]]
    ) -> list[CountResult | None]:
        from driftmon.scoring.objects import count_objects

        if self.detector is None:
            return [None] * len(images)
        cfg = self.config
        threshold = min(cfg.presence_threshold, cfg.count_threshold)
        boxes = self.detector.detect(images, [list(e) for e in expected], threshold)
        return [
            count_objects(e, b, cfg.presence_threshold, cfg.count_threshold, cfg.dedup_iou)
            if e else None
            for e, b in zip(expected, boxes, strict=True)
        ]

    def _alignment(
        self, images: Sequence[np.ndarray], metas: Sequence[SampleMeta]
    ) -> tuple[np.ndarray | None, list[float | None]]:
        none: list[float | None] = [None] * len(images)
        if self.embedder is None or not images:
            return None, none
        embeddings = self.embedder.embed_images(images)
        if not self.config.alignment:
            return embeddings, none
        with_prompt = [i for i, m in enumerate(metas) if m.prompt]
        if with_prompt:
            prompts = [metas[i].prompt or "" for i in with_prompt]
            scores = self.embedder.score(embeddings[with_prompt], prompts)
            for i, score in zip(with_prompt, scores.tolist(), strict=True):
                none[i] = float(score)
        return embeddings, none

    def _one(
        self,
        image: np.ndarray,
        detections: Sequence[Detection],
        text_scores: TextScores,
        meta: SampleMeta,
        counts: CountResult | None,
        embedding: np.ndarray | None,
        clip_score: float | None,
    ) -> CompositionResult:
        cfg = self.config
        scores: dict[str, float | None] = dict.fromkeys(COMPOSITION_SCORES)
        evidence: dict[str, Any] = {}
        if cfg.margins:
            margins = self._margins(image, detections, text_scores, counts)
            scores["margin_violation"] = _flag(margins.violation)
            scores["safe_area_ratio"] = margins.safe_area_ratio
            evidence["outside_safe_area"] = [c.as_json() for c in margins.outside]
        if cfg.legibility:
            legibility = check_legibility(image, detections, text_scores, self.limits)
            scores["legibility"] = legibility.score
            evidence["legibility"] = [w.as_json() for w in legibility.words]
        if cfg.sanity:
            sanity = check_sanity(image, meta.size, cfg.blank_max_std, cfg.blank_black_level)
            scores.update(blank=_flag(sanity.blank), sharpness=sanity.sharpness,
                          size_ok=_flag(sanity.size_ok))
            evidence["sanity"] = {
                "size": [image.shape[1], image.shape[0]],
                "requested_size": None if meta.size is None else list(meta.size),
                "grey_std": round(sanity.grey_std, 3), "grey_p99": sanity.grey_p99,
            }
        if counts is not None:
            scores["object_count_match"] = counts.match
            evidence["objects"] = [c.as_json() for c in counts.objects]
        scores["clip_score"] = clip_score
        keep = embedding if cfg.embedding_drift else None
        return CompositionResult(scores, evidence, keep)

    def _margins(
        self,
        image: np.ndarray,
        detections: Sequence[Detection],
        text_scores: TextScores,
        counts: CountResult | None,
    ) -> MarginResult:
        text_boxes = [
            (detections[i].text, detection_box(detections[i]))
            for i in expected_text_indices(text_scores)
        ]
        object_boxes = [
            (c.name, b.box) for c in (counts.objects if counts else ()) for b in c.boxes
        ]
        height, width = image.shape[:2]
        return check_margins(text_boxes, object_boxes, width, height, self.config.margin_share)
