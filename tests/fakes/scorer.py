"""A light scorer the scorer process can build (`tests.fakes.scorer.FakeScorer`): no torch, no models.

It "reads" exactly the expected text, so every sample scores text_fidelity 1. Test hooks, by the
expected text (the sample's `expected_text`):
- contains ``CRASH``: the scorer process exits at once (a native crash, an OOM kill);
- contains ``HANG``: the batch never ends (the supervisor's batch timeout kills the process).
``DRIFTMON_FAKE_SCORER_SECONDS`` (environment) makes every batch take that long, so a test can
kill a process while a batch is in flight.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from driftmon.scoring.scorer import ScoreResult, text_evidence, text_score_values
from driftmon.scoring.text import score_text
from driftmon.scoring.types import Detection


class FakeScorer:
    """`score_batch` as `driftmon.scoring.scorer.Scorer` has it, without OCR."""

    def score_batch(
        self, images: Sequence[np.ndarray], expected: Sequence[Sequence[str]], metas: Any = None
    ) -> list[ScoreResult]:
        if any("CRASH" in line for lines in expected for line in lines):
            os._exit(70)
        if any("HANG" in line for lines in expected for line in lines):
            time.sleep(3600)
        time.sleep(float(os.environ.get("DRIFTMON_FAKE_SCORER_SECONDS", "0")))
        return [self._result(lines) for lines in expected]

    @staticmethod
    def _result(lines: Sequence[str]) -> ScoreResult:
        detections = [
            Detection(((10.0, top), (200.0, top), (200.0, top + 30), (10.0, top + 30)), line, 0.99)
            for top, line in ((10.0 + 40 * i, line) for i, line in enumerate(lines))
        ]
        text = score_text(lines, detections)
        return ScoreResult(text, tuple(detections), text_score_values(text), text_evidence(text))


class BrokenScorer:
    """A scorer whose models cannot load (the factory raises)."""

    def __init__(self) -> None:
        raise RuntimeError("no models here")
