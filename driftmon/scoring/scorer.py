"""The scoring path shared by `driftmon score`, the gate and the daemon's worker:
OCR (a first reader, and a second one where configured) → text → composition.

Second reader (``scoring.second_reader``): with ``on_fail`` the images whose first reading
scores below ``failing_below`` are read again by the second reader, with ``always`` every image
with expected text is. The better reading (higher text_fidelity; a tie keeps the first) gives
the scores, the detections and the verdict, so a sample fails only when both readers fail it.
The evidence keeps both readings under ``readers`` (which reader won), and the score
``reader_disagreement`` is 1 when the two verdicts differ, 0 when they agree, None when one
reader read. The second reader is built on first use, so ``on_fail`` costs no memory until an
image fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from driftmon.samples import SampleMeta, score_value
from driftmon.scoring.bounded import DEFAULT_MAX_SIDE, read_bounded
from driftmon.scoring.factory import FIRST_READER, SECOND_READER, scorer_version
from driftmon.scoring.text import FoldAccents, TextScores, score_text
from driftmon.scoring.types import Detection, OcrEngine
from driftmon.signals import READER_DISAGREEMENT, TEXT_SCORES

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
    #: `scorer_version` of the scorer that produced it (stored with the sample)
    scorer_version: str = ""


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
        "accents_folded": text.accents_folded,
        "reading": text.reading,
    }


def detections_json(detections: Sequence[Detection]) -> list[dict[str, Any]]:
    return [
        {"box": [list(p) for p in d.box], "text": d.text, "confidence": round(d.confidence, 4)}
        for d in detections
    ]


@dataclass(frozen=True, slots=True)
class Reading:
    """One reader's view of one image: its detections and the text scores they give."""

    reader: str
    detections: tuple[Detection, ...]
    text: TextScores

    def failing(self, failing_below: float) -> bool:
        return self.text.text_fidelity is not None and self.text.text_fidelity < failing_below

    def summary(self, failing_below: float) -> dict[str, Any]:
        """JSON-able evidence of this reading."""
        return {
            "reader": self.reader,
            "ocr_text": self.text.ocr_text,
            "fidelity": self.text.text_fidelity,
            "failing": self.failing(failing_below),
            "accents_folded": self.text.accents_folded,
            "reading": self.text.reading,
        }


def better(first: Reading, second: Reading | None) -> Reading:
    """The reading with the higher text_fidelity (a tie, or no second reading, keeps the first)."""
    if second is None or second.text.text_fidelity is None:
        return first
    if first.text.text_fidelity is None or second.text.text_fidelity > first.text.text_fidelity:
        return second
    return first


def readers_evidence(first: Reading, second: Reading, failing_below: float) -> dict[str, Any]:
    """Both readings (the loser with its detections) and which reader won."""
    winner = better(first, second)
    loser = second if winner is first else first
    readings = [first.summary(failing_below), second.summary(failing_below)]
    readings[[first, second].index(loser)]["detections"] = detections_json(loser.detections)
    return {"winner": winner.reader, "readings": readings}


class SecondReader:
    """The second OCR reader and when it reads; the engine is built on first use."""

    def __init__(self, mode: Literal["on_fail", "always"], load: Callable[[], OcrEngine]) -> None:
        self.mode = mode
        self._load = load
        self._engine: OcrEngine | None = None

    @property
    def engine(self) -> OcrEngine:
        if self._engine is None:
            self._engine = self._load()
        return self._engine

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def wants(self, first: Reading, failing_below: float) -> bool:
        """Whether the image gets a second reading (only images with expected text do)."""
        if first.text.text_fidelity is None:
            return False
        return self.mode == "always" or first.failing(failing_below)


class Scorer:
    """Scores batches of RGB images against their expected text.

    `composition`, when given, scores the batch after OCR; `observe_stage(stage, seconds)`
    receives per-stage durations for metrics. `second`, when given, re-reads images (module
    docstring); `fold_accents` is passed to `score_text` with each reader's character set.
    """

    def __init__(
        self,
        ocr: OcrEngine,
        case_sensitive: bool = False,
        composition: CompositionScorer | None = None,
        observe_stage: Callable[[str, float], None] | None = None,
        *,
        second: SecondReader | None = None,
        failing_below: float = 0.85,
        fold_accents: FoldAccents = "auto",
        max_side: int = DEFAULT_MAX_SIDE,
    ) -> None:
        self.ocr = ocr
        self.case_sensitive = case_sensitive
        self.composition = composition
        self.second = second
        self.failing_below = failing_below
        self.fold_accents: FoldAccents = fold_accents
        self.max_side = max_side  # OCR reads at most this many pixels a side (driftmon.scoring.bounded)
        self.version = scorer_version(second.mode if second is not None else "off")
        self._observe = observe_stage or (lambda stage, seconds: None)

    def _timed(self, stage: str, action: Callable[[], T]) -> T:
        start = time.perf_counter()
        result = action()
        self._observe(stage, time.perf_counter() - start)
        return result

    def _readings(
        self,
        reader: str,
        engine: OcrEngine,
        expected: Sequence[Sequence[str]],
        detections: Sequence[Sequence[Detection]],
    ) -> list[Reading]:
        charset = getattr(engine, "charset", None)
        return [
            Reading(
                reader,
                tuple(dets),
                score_text(
                    lines, dets, self.case_sensitive, fold_accents=self.fold_accents, charset=charset
                ),
            )
            for lines, dets in zip(expected, detections, strict=True)
        ]

    def _second_readings(
        self, images: Sequence[np.ndarray], expected: Sequence[Sequence[str]], firsts: Sequence[Reading]
    ) -> list[Reading | None]:
        second = self.second
        rereads: list[Reading | None] = [None] * len(images)
        if second is None:
            return rereads
        wanted = [i for i, first in enumerate(firsts) if second.wants(first, self.failing_below)]
        if not wanted:
            return rereads
        engine, lines = second.engine, [expected[i] for i in wanted]
        rereading = [images[i] for i in wanted]
        readings = self._timed(
            "ocr_second",
            lambda: self._readings(
                SECOND_READER, engine, lines, read_bounded(engine, rereading, self.max_side)
            ),
        )
        for index, reading in zip(wanted, readings, strict=True):
            rereads[index] = reading
        return rereads

    def score_batch(
        self,
        images: Sequence[np.ndarray],
        expected: Sequence[Sequence[str]],
        metas: Sequence[SampleMeta] | None = None,
    ) -> list[ScoreResult]:
        """Score each image against its expected lines (same order)."""
        detections = self._timed("ocr", lambda: read_bounded(self.ocr, images, self.max_side))
        for stage, seconds in getattr(self.ocr, "last_stage_seconds", {}).items():
            self._observe(f"ocr_{stage}", seconds)  # the batched engine's detect/postprocess/recognize
        firsts = self._timed(
            "text", lambda: self._readings(FIRST_READER, self.ocr, expected, detections)
        )
        rereads = self._second_readings(images, expected, firsts)
        winners = [better(first, second) for first, second in zip(firsts, rereads, strict=True)]
        compositions: list[CompositionResult | None] = [None] * len(images)
        composition = self.composition
        if composition is not None:
            batch_metas = metas or [SampleMeta() for _ in images]
            compositions = list(self._timed(
                "composition",
                lambda: composition.score_batch(
                    images, [w.detections for w in winners], [w.text for w in winners], batch_metas
                ),
            ))
        return [
            self._result(first, second, comp)
            for first, second, comp in zip(firsts, rereads, compositions, strict=True)
        ]

    def score(
        self, image: np.ndarray, expected: Sequence[str], meta: SampleMeta | None = None
    ) -> ScoreResult:
        """Score one image."""
        return self.score_batch([image], [expected], [meta or SampleMeta()])[0]

    def _result(
        self, first: Reading, second: Reading | None, comp: CompositionResult | None
    ) -> ScoreResult:
        winner = better(first, second)
        scores = text_score_values(winner.text)
        evidence = {**text_evidence(winner.text), "scorer_version": self.version}
        if self.second is not None:
            scores[READER_DISAGREEMENT] = (
                None
                if second is None
                else float(first.failing(self.failing_below) != second.failing(self.failing_below))
            )
        if second is not None:
            evidence["readers"] = readers_evidence(first, second, self.failing_below)
        embedding = None
        if comp is not None:
            scores.update(comp.scores)
            evidence["composition"] = dict(comp.evidence)
            embedding = comp.embedding
        return ScoreResult(winner.text, winner.detections, scores, evidence, embedding, self.version)
