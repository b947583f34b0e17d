"""The scoring path shared by `driftmon score` and the daemon's worker: OCR → text → composition."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from driftmon.samples import SampleMeta, score_value
from driftmon.scoring.text import TextScores, score_text
from driftmon.scoring.types import Detection, OcrEngine
from driftmon.signals import TEXT_SCORES

if TYPE_CHECKING:
    from driftmon.scoring.composition import CompositionResult, CompositionScorer

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """Everything known about one scored image."""

    text: TextScores
    detections: tuple[Detection, ...]
    scores: Mapping[str, float | None]
    evidence: Mapping[str, Any] = field(default_factory=dict)
    embedding: np.ndarray | None = None


def text_score_values(text: TextScores) -> dict[str, float | None]:
    """The flat text scores (bools as 0/1) under their contract names."""
    return {name: score_value(getattr(text, name)) for name in TEXT_SCORES}


def text_evidence(text: TextScores) -> dict[str, Any]:
    """Per-word evidence as JSON-able data."""
    return {
        "words": [
            {
                "word": w.word,
                "matched": w.matched,
                "near_match": w.near_match,
                "confidence": round(w.confidence, 4),
                "box_height_px": round(w.box_height_px, 1),
            }
            for w in text.words
        ],
        "missing_words": list(text.missing_words),
    }


def detections_json(detections: Sequence[Detection]) -> list[dict[str, Any]]:
    return [
        {"box": [list(p) for p in d.box], "text": d.text, "confidence": round(d.confidence, 4)}
        for d in detections
    ]


class Scorer:
    """Scores batches of RGB images against their expected text.

    `composition`, when given, scores the batch after OCR; `observe_stage(stage, seconds)`
    receives per-stage durations for metrics.
    """

    def __init__(
        self,
        ocr: OcrEngine,
        case_sensitive: bool = False,
        composition: CompositionScorer | None = None,
        observe_stage: Callable[[str, float], None] | None = None,
    ) -> None:
        self.ocr = ocr
        self.case_sensitive = case_sensitive
        self.composition = composition
        self._observe = observe_stage or (lambda stage, seconds: None)

    def _timed(self, stage: str, action: Callable[[], T]) -> T:
        start = time.perf_counter()
        result = action()
        self._observe(stage, time.perf_counter() - start)
        return result

    def score_batch(
        self,
        images: Sequence[np.ndarray],
        expected: Sequence[Sequence[str]],
        metas: Sequence[SampleMeta] | None = None,
    ) -> list[ScoreResult]:
        """Score each image against its expected lines (same order)."""
        detections = self._timed("ocr", lambda: self.ocr.read(images))
        for stage, seconds in getattr(self.ocr, "last_stage_seconds", {}).items():
            self._observe(f"ocr_{stage}", seconds)  # the batched engine's detect/postprocess/recognize
        texts = self._timed(
            "text",
            lambda: [
                score_text(lines, dets, self.case_sensitive)
                for lines, dets in zip(expected, detections, strict=True)
            ],
        )
        compositions: list[CompositionResult | None] = [None] * len(images)
        composition = self.composition
        if composition is not None:
            batch_metas = metas or [SampleMeta() for _ in images]
            compositions = list(self._timed(
                "composition",
                lambda: composition.score_batch(images, detections, texts, batch_metas),
            ))
        return [
            self._result(text, dets, comp)
            for text, dets, comp in zip(texts, detections, compositions, strict=True)
        ]

    def score(
        self, image: np.ndarray, expected: Sequence[str], meta: SampleMeta | None = None
    ) -> ScoreResult:
        """Score one image."""
        return self.score_batch([image], [expected], [meta or SampleMeta()])[0]

    @staticmethod
    def _result(
        text: TextScores, dets: Sequence[Detection], comp: CompositionResult | None
    ) -> ScoreResult:
        scores = text_score_values(text)
        evidence = text_evidence(text)
        embedding = None
        if comp is not None:
            scores.update(comp.scores)
            evidence["composition"] = dict(comp.evidence)
            embedding = comp.embedding
        return ScoreResult(text, tuple(dets), scores, evidence, embedding)
