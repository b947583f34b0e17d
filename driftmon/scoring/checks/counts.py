"""Object counts: the objects the prompt asks for, found in the asked number (GenEval's rule,
driftmon.scoring.objects); the detector runs once per batch."""

from __future__ import annotations

from driftmon.config import CompositionConfig
from driftmon.expectations import expected_counts
from driftmon.scoring.checks.base import Batch, Finding
from driftmon.scoring.objects import CountResult, ObjectDetector, count_objects

#: the score this check computes (driftmon.signals)
SCORE = "object_count_match"


class CountsCheck:
    """`object_count_match`, and the counted boxes for the margins check."""

    name = "counts"

    def __init__(self, detector: ObjectDetector, config: CompositionConfig) -> None:
        self.detector = detector
        self.config = config

    def run(self, batch: Batch) -> list[Finding]:
        """One finding per image (empty where the prompt asks for no count)."""
        cfg = self.config
        expected = [
            expected_counts(m.prompt, m.expected_objects, cfg.count_articles) for m in batch.metas
        ]
        threshold = min(cfg.presence_threshold, cfg.count_threshold)
        boxes = self.detector.detect(batch.images, [list(e) for e in expected], threshold)
        return [
            _finding(
                count_objects(e, b, cfg.presence_threshold, cfg.count_threshold, cfg.dedup_iou)
            ) if e else Finding()
            for e, b in zip(expected, boxes, strict=True)
        ]


def _finding(counts: CountResult) -> Finding:
    return Finding(
        {SCORE: counts.match},
        {"objects": [c.as_json() for c in counts.objects]},
        object_boxes=tuple((c.name, b.box) for c in counts.objects for b in c.boxes),
    )
