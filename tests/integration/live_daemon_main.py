"""`python -m tests.integration.live_daemon_main CONFIG PORT`: the daemon as `driftmon run` builds it,
with NVML answered by the recorded H200 and `LiveScorer` in its scorer process: the fake scorer's
text scores plus composition scores and the token check, so every family a rule may select has
series without models (tests/integration/test_exported_alerts_live.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from driftmon.config import load_config
from driftmon.daemon import Daemon
from driftmon.logs import configure_logging
from driftmon.scoring.scorer import ScoreResult
from driftmon.signals import COMPOSITION_SCORES, PROMPT_TRUNCATED
from tests.fakes.scorer import FakeScorer
from tests.support.nvml import FakeNvml

#: composition scores every sample gets (a clean, sharp, well-placed image)
COMPOSITION = {
    "margin_violation": 0.0, "safe_area_ratio": 1.0, "legibility": 1.0, "blank": 0.0,
    "sharpness": 500.0, "size_ok": 1.0, "object_count_match": 1.0, "clip_score": 0.9,
}  # fmt: skip
assert set(COMPOSITION) == set(COMPOSITION_SCORES), "a composition score is missing here"


class LiveScorer(FakeScorer):
    """The fake scorer, plus composition scores and `prompt_truncated` (1 when the expected text
    contains ``CUT``)."""

    def score_batch(
        self, images: Sequence[np.ndarray], expected: Sequence[Sequence[str]], metas: Any = None
    ) -> list[ScoreResult]:
        results = super().score_batch(images, expected, metas)
        return [
            dataclasses.replace(
                result,
                scores={
                    **result.scores,
                    **COMPOSITION,
                    PROMPT_TRUNCATED: 1.0 if any("CUT" in line for line in lines) else 0.0,
                },
            )
            for result, lines in zip(results, expected, strict=True)
        ]


def main(config_path: str, port: str) -> None:
    config = load_config(config_path)
    configure_logging(config.logging.level, config.logging.format)
    daemon = Daemon(config, port=int(port), nvml=FakeNvml("busy"), scorer_factory=LiveScorer)
    asyncio.run(daemon.serve())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
