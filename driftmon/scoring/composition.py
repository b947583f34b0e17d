"""The composition scorer: builds the enabled checks (driftmon.scoring.checks) and runs them over
a batch, in order; the detector and CLIP run once per batch. Definitions: docs/composition.md
and each check's module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from driftmon.config import CompositionConfig
from driftmon.samples import SampleMeta
from driftmon.scoring.checks import (
    AlignmentCheck,
    Batch,
    Check,
    CountsCheck,
    Embedder,
    Finding,
    LegibilityCheck,
    LegibilityThresholds,
    MarginsCheck,
    SanityCheck,
    alignment,
    counts,
)
from driftmon.scoring.text import TextScores
from driftmon.scoring.types import Detection
from driftmon.signals import COMPOSITION_SCORES

if TYPE_CHECKING:
    from driftmon.scoring.objects import ObjectDetector

__all__ = ["COMPOSITION_SCORES", "CompositionResult", "CompositionScorer"]

log = structlog.get_logger("driftmon.scoring.composition")


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

    @classmethod
    def of(cls, findings: Sequence[Finding]) -> CompositionResult:
        """One image's findings merged, every score name present."""
        scores: dict[str, float | None] = dict.fromkeys(COMPOSITION_SCORES)
        evidence: dict[str, Any] = {}
        embedding = None
        for finding in findings:
            scores.update(finding.scores)
            evidence.update(finding.evidence)
            if finding.embedding is not None:
                embedding = finding.embedding
        return cls(scores, evidence, embedding)


class CompositionScorer:
    """Runs the enabled checks over a batch, in order (counts before margins, which check the
    counted boxes).

    `detector` and `embedder` replace the models the config names (tests inject fakes). A
    model check whose directory is not configured is off, and says so once, here.
    """

    def __init__(
        self,
        config: CompositionConfig,
        device: str = "cpu",
        detector: ObjectDetector | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.config = config
        self.device = device
        self.limits = LegibilityThresholds.of(config)
        self.detector = detector if detector is not None else self._load_detector()
        self.embedder = embedder if embedder is not None else self._load_embedder()
        self.checks = self._checks()

    def _checks(self) -> list[Check]:
        cfg = self.config
        checks: list[Check] = []
        if self.detector is not None:
            checks.append(CountsCheck(self.detector, cfg))
        if self.embedder is not None:
            checks.append(AlignmentCheck(self.embedder, cfg.alignment, cfg.embedding_drift))
        if cfg.margins:
            checks.append(MarginsCheck(cfg.margin_share))
        if cfg.legibility:
            checks.append(LegibilityCheck(self.limits))
        if cfg.sanity:
            checks.append(SanityCheck(cfg.blank_max_std, cfg.blank_black_level))
        return checks

    def _load_detector(self) -> ObjectDetector | None:
        if not self.config.objects:
            return None
        if self.config.detector_dir is None:
            log.info("composition_check_off", check=counts.SCORE,
                     reason="scoring.composition.detector_dir is not set")
            return None
        from driftmon.scoring.objects import TransformersDetector

        return TransformersDetector(self.config.detector_dir, self._model_device())

    def _load_embedder(self) -> Embedder | None:
        if not (self.config.alignment or self.config.embedding_drift):
            return None
        if self.config.clip_dir is None:
            log.info("composition_check_off", check=f"{alignment.SCORE}, embedding_drift",
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
        batch = Batch(images, detections, text_scores, metas)
        for check in self.checks:
            batch = batch.with_findings(check.run(batch))
        return [CompositionResult.of(findings) for findings in batch.earlier]
