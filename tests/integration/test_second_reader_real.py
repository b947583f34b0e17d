"""The daemon's scorer as `build_scorer` makes it (EasyOCR + RapidOCR on_fail), real models, on the
evaluation set: a correct render passes without a second reading; a wrong render is re-read by
RapidOCR, keeps the better fidelity and stays failing."""

from __future__ import annotations

import pytest

from bench.evalset.evaluate import load_image, load_manifest
from driftmon.config import CompositionConfig, ScoringConfig
from driftmon.expectations import expected_lines
from driftmon.scoring.factory import build_scorer

pytestmark = pytest.mark.slow


def test_on_fail_rereads_only_the_failing_image() -> None:
    rows = {row["path"]: row for row in load_manifest()}
    correct, wrong = rows["001-correct.jpg"], rows["048-wrong.jpg"]
    scoring = ScoringConfig(device="cpu", composition=CompositionConfig(sanity=False, margins=False))
    scorer = build_scorer(scoring, composition=False)
    assert scorer.second is not None and not scorer.second.loaded
    images = [load_image(correct), load_image(wrong)]
    lines = [expected_lines(r["prompt"], r["expected_text"]) for r in (correct, wrong)]
    passed, failed = scorer.score_batch(images, lines)
    assert passed.text.text_fidelity is not None and passed.text.text_fidelity >= 0.85
    assert "readers" not in passed.evidence
    readers = failed.evidence["readers"]
    assert [r["reader"] for r in readers["readings"]] == ["easyocr", "rapidocr"]
    best = max(r["fidelity"] for r in readers["readings"])
    assert failed.text.text_fidelity == best < 0.85
    assert failed.scorer_version.endswith("/easyocr+rapidocr:on_fail")
