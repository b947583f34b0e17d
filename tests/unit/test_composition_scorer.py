"""CompositionScorer: flat scores and JSON evidence per image, models injected and batched,
each check switchable, model checks off (and said once) without a configured directory."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from driftmon.config import CompositionConfig
from driftmon.errors import ModelUnavailable
from driftmon.samples import SampleMeta
from driftmon.scoring.composition import COMPOSITION_SCORES, CompositionScorer
from driftmon.scoring.objects import ObjectBox
from driftmon.scoring.text import score_text
from driftmon.scoring.types import Detection

SIZE = 256


class FakeDetector:
    """Returns the boxes it was given for each label, and records each call."""

    name = "fake"
    device = "cpu"

    def __init__(self, boxes: dict[str, list[ObjectBox]]) -> None:
        self.boxes = boxes
        self.calls: list[tuple[int, list[list[str]], float]] = []

    def detect(
        self, images: Sequence[np.ndarray], labels: Sequence[Sequence[str]], threshold: float
    ) -> list[list[ObjectBox]]:
        self.calls.append((len(images), [list(names) for names in labels], threshold))
        return [[b for name in names for b in self.boxes.get(name, [])] for names in labels]


class FakeEmbedder:
    """Embeds every image as e0 and every text as a fixed unit vector at 60° to it."""

    name = "fake-clip"

    def __init__(self) -> None:
        self.image_batches: list[int] = []
        self.prompts: list[str] = []

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        self.image_batches.append(len(images))
        out = np.zeros((len(images), 2), dtype=np.float32)
        out[:, 0] = 1.0
        return out

    def score(self, image_embeddings: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        self.prompts.extend(prompts)
        text = np.array([0.5, np.sqrt(3) / 2])
        return 2.5 * np.maximum(image_embeddings @ text, 0.0)


def text_image(x: int = 60) -> tuple[np.ndarray, list[Detection]]:
    """A grey image with a dark 40 px block standing for the word HELLO at `x`, and its
    detection."""
    image = np.full((SIZE, SIZE, 3), 200, dtype=np.uint8)
    image[100:140, x : x + 120] = 30
    image[110:130, x + 10 : x + 110] = 200  # two tones inside the box, like glyph strokes
    box = ((x, 100), (x + 120, 100), (x + 120, 140), (x, 140))
    return image, [Detection(box, "HELLO", 0.9)]


def score_one(scorer: CompositionScorer, meta: SampleMeta, x: int = 60):
    """Score one text image with `meta` through the batch interface."""
    image, dets = text_image(x)
    text = score_text(["HELLO"], dets)
    return scorer.score_batch([image], [dets], [text], [meta])[0]


def test_every_score_name_present_and_evidence_is_json() -> None:
    """Without models: the pure checks score, model scores are None, evidence serialises."""
    scorer = CompositionScorer(CompositionConfig())
    result = score_one(scorer, SampleMeta(prompt='a sign "HELLO"', size=(SIZE, SIZE)))
    assert set(result.scores) == set(COMPOSITION_SCORES)
    assert result.scores["margin_violation"] == 0.0
    assert result.scores["legibility"] == 1.0
    assert result.scores["blank"] == 0.0 and result.scores["size_ok"] == 1.0
    assert result.scores["object_count_match"] is None and result.scores["clip_score"] is None
    assert result.embedding is None
    json.dumps(result.evidence)


def test_model_checks_off_are_said_once() -> None:
    """Without detector_dir and clip_dir, construction logs each check as off, once."""
    with capture_logs() as logs:
        scorer = CompositionScorer(CompositionConfig())
        score_one(scorer, SampleMeta(prompt="three cats"))
        score_one(scorer, SampleMeta(prompt="three cats"))
    off = [entry["check"] for entry in logs if entry["event"] == "composition_check_off"]
    assert off == ["object_count_match", "clip_score, embedding_drift"]


def test_counts_from_prompt_with_injected_detector() -> None:
    """'three cats': the detector is asked for 'cat'; three boxes pass, evidence lists them."""
    cats = [ObjectBox("cat", 0.8, (40.0 + 50 * i, 160.0, 80.0 + 50 * i, 200.0)) for i in range(3)]
    detector = FakeDetector({"cat": cats})
    scorer = CompositionScorer(CompositionConfig(), detector=detector)
    result = score_one(scorer, SampleMeta(prompt="three cats on a sign saying 'HELLO'"))
    assert detector.calls[0][1] == [["cat", "sign"]]
    assert detector.calls[0][2] == pytest.approx(0.3)
    assert result.scores["object_count_match"] == 0.5  # cats right, no sign found
    objects = {o["name"]: o for o in result.evidence["objects"]}
    assert (objects["cat"]["expected"], objects["cat"]["found"]) == (3, 3)
    assert objects["sign"]["passed"] is False


def test_expected_objects_override_the_prompt() -> None:
    """Sample meta expected_objects are what is counted, not the prompt's nouns."""
    detector = FakeDetector({"dog": [ObjectBox("dog", 0.9, (50.0, 150.0, 120.0, 220.0))]})
    scorer = CompositionScorer(CompositionConfig(), detector=detector)
    result = score_one(scorer, SampleMeta(prompt="three cats", expected_objects={"dog": 1}))
    assert detector.calls[0][1] == [["dog"]]
    assert result.scores["object_count_match"] == 1.0


def test_object_outside_safe_area_is_a_margin_violation() -> None:
    """A counted object box touching the edge violates the margins and is listed."""
    detector = FakeDetector({"owl": [ObjectBox("owl", 0.9, (0.0, 30.0, 60.0, 90.0))]})
    scorer = CompositionScorer(CompositionConfig(), detector=detector)
    result = score_one(scorer, SampleMeta(prompt="an owl"))
    assert result.scores["margin_violation"] == 1.0
    assert [o["label"] for o in result.evidence["outside_safe_area"]] == ["owl"]


def test_models_run_once_per_batch() -> None:
    """Three images, one detector call and one CLIP image batch; CLIP scores only with prompts."""
    detector, embedder = FakeDetector({}), FakeEmbedder()
    scorer = CompositionScorer(CompositionConfig(), detector=detector, embedder=embedder)
    images, dets, texts, metas = [], [], [], []
    for prompt in ("an owl", None, "two dogs"):
        image, det = text_image()
        images.append(image)
        dets.append(det)
        texts.append(score_text(["HELLO"], det))
        metas.append(SampleMeta(prompt=prompt))
    results = scorer.score_batch(images, dets, texts, metas)
    assert len(detector.calls) == 1 and detector.calls[0][0] == 3
    assert embedder.image_batches == [3]
    assert embedder.prompts == ["an owl", "two dogs"]
    assert [r.scores["clip_score"] is None for r in results] == [False, True, False]
    assert results[0].scores["clip_score"] == pytest.approx(2.5 * 0.5)
    assert all(r.embedding is not None and r.embedding.shape == (2,) for r in results)


def test_each_check_can_be_switched_off() -> None:
    """Every check disabled: every score None, no embedding, models untouched. Every on/off
    switch of the section is turned off, so a new check's switch is covered without an edit here."""
    switches = [name for name, spec in CompositionConfig.model_fields.items() if spec.annotation is bool]
    assert {"margins", "legibility", "sanity", "objects", "alignment", "embedding_drift"} <= set(switches)
    config = CompositionConfig(**dict.fromkeys(switches, False))
    scorer = CompositionScorer(config)
    result = score_one(scorer, SampleMeta(prompt="three cats", size=(SIZE, SIZE)))
    assert all(value is None for value in result.scores.values())
    assert result.embedding is None


def test_embedding_kept_for_drift_without_clip_score() -> None:
    """Alignment off but embedding drift on: no CLIP score, the embedding is still returned."""
    embedder = FakeEmbedder()
    scorer = CompositionScorer(CompositionConfig(alignment=False), embedder=embedder)
    result = score_one(scorer, SampleMeta(prompt="an owl"))
    assert result.scores["clip_score"] is None
    assert result.embedding is not None
    assert embedder.prompts == []


def test_clipped_text_and_wrong_size_through_the_scorer() -> None:
    """Text at the left border is clipped; an image not of the requested size is flagged."""
    scorer = CompositionScorer(CompositionConfig())
    result = score_one(scorer, SampleMeta(size=(512, 512)), x=0)
    assert result.scores["margin_violation"] == 1.0
    assert result.evidence["outside_safe_area"][0]["clipped"] is True
    assert result.scores["size_ok"] == 0.0


def test_configured_missing_model_dir_fails_at_start(tmp_path: Path) -> None:
    """A configured detector_dir without a checkpoint fails construction, not scoring."""
    with pytest.raises(ModelUnavailable):
        CompositionScorer(CompositionConfig(detector_dir=tmp_path / "nope"))
    with pytest.raises(ModelUnavailable):
        CompositionScorer(CompositionConfig(clip_dir=tmp_path / "nope"))


def test_detector_loads_from_the_configured_dir_on_a_resolved_device(tmp_path: Path) -> None:
    """With detector_dir set, the real detector loads (tiny random OWLv2) on the device 'auto'
    resolves to, and a batch scores through it end to end."""
    from tests.unit.test_objects import save_tiny_detector

    config = CompositionConfig(detector_dir=save_tiny_detector(tmp_path), alignment=False,
                               embedding_drift=False)
    scorer = CompositionScorer(config, device="auto")
    assert scorer.detector is not None and scorer.detector.device in ("cpu", "cuda")
    result = score_one(scorer, SampleMeta(prompt="three cats"))
    assert result.scores["object_count_match"] is not None
    assert [o["name"] for o in result.evidence["objects"]] == ["cat"]
