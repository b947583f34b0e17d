"""Object counting: GenEval's rule on given boxes, dedup, and the real OWL code paths on tiny
randomly initialised models saved to a temp dir (no accuracy is claimed for random weights)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from driftmon.errors import ModelUnavailable
from driftmon.scoring.objects import (
    ObjectBox,
    TransformersDetector,
    count_objects,
    dedupe,
    iou,
)

# ------------------------------------------------------------------------- counting (pure)


def boxes(label: str, scores: list[float], step: float = 60.0) -> list[ObjectBox]:
    """Disjoint boxes of one label, one per score, laid out left to right."""
    return [ObjectBox(label, s, (i * step, 10.0, i * step + 50.0, 60.0)) for i, s in enumerate(scores)]


def test_exactly_n_passes() -> None:
    """Three cats above the presence threshold and none extra: the count passes."""
    result = count_objects({"cat": 3}, boxes("cat", [0.95, 0.8, 0.4]))
    assert result.match == 1.0
    assert (result.objects[0].found, result.objects[0].passed) == (3, True)


def test_too_few_fails() -> None:
    """Two cats found where three were asked: fails; boxes under 0.3 do not count."""
    result = count_objects({"cat": 3}, boxes("cat", [0.95, 0.8, 0.2]))
    assert result.match == 0.0
    assert result.objects[0].found == 2


def test_extra_confident_box_fails_but_weak_extra_does_not() -> None:
    """GenEval: an (N+1)-th box above the counting threshold fails the count; a weak one not."""
    weak_extra = count_objects({"cat": 2}, boxes("cat", [0.95, 0.92, 0.5]))
    strong_extra = count_objects({"cat": 2}, boxes("cat", [0.95, 0.92, 0.91]))
    assert weak_extra.match == 1.0
    assert strong_extra.match == 0.0
    assert strong_extra.objects[0].confident == 3


def test_counting_threshold_is_configurable() -> None:
    """With a counting threshold at the presence level every extra box counts against."""
    result = count_objects({"cat": 2}, boxes("cat", [0.95, 0.92, 0.5]), count_threshold=0.3)
    assert result.match == 0.0


def test_share_of_objects_that_pass() -> None:
    """Two expected objects, one right: match 0.5, and other labels do not leak across."""
    found = boxes("cat", [0.9, 0.9, 0.9]) + boxes("dog", [0.9])
    result = count_objects({"cat": 3, "dog": 2}, found)
    assert result.match == 0.5
    assert {c.name: c.passed for c in result.objects} == {"cat": True, "dog": False}


def test_same_class_duplicates_are_merged() -> None:
    """Two near-identical cat boxes are one cat; an overlapping dog box is kept."""
    cat = ObjectBox("cat", 0.9, (10.0, 10.0, 110.0, 110.0))
    dup = ObjectBox("cat", 0.8, (11.0, 10.0, 111.0, 110.0))
    dog = ObjectBox("dog", 0.7, (10.0, 10.0, 110.0, 110.0))
    assert iou(cat.box, dup.box) > 0.9
    assert dedupe([dup, cat, dog], 0.9) == [cat, dog]
    assert count_objects({"cat": 1}, [cat, dup]).match == 1.0


def test_no_expected_objects_is_none() -> None:
    """Without expected objects the score does not apply."""
    assert count_objects({}, boxes("cat", [0.9])).match is None


def test_iou_of_disjoint_and_identical() -> None:
    """IoU is 0 for disjoint boxes, 1 for identical ones, 0 for empty ones."""
    a = (0.0, 0.0, 10.0, 10.0)
    assert iou(a, a) == 1.0
    assert iou(a, (20.0, 20.0, 30.0, 30.0)) == 0.0
    assert iou((0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0)) == 0.0


# ------------------------------------------------------------------ tiny transformers models


def tiny_tokenizer(directory: Path, max_length: int):
    """A CLIPTokenizer over a 55-entry character vocabulary, built offline."""
    from transformers import CLIPTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    # id 0 is padding: OWL masks queries whose first token id is 0
    vocab = {"!": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}
    for char in "abcdefghijklmnopqrstuvwxyz":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    # positional: `vocab, merges` in transformers 5, `vocab_file, merges_file` in 4
    return CLIPTokenizer(
        str(directory / "vocab.json"),
        str(directory / "merges.txt"),
        pad_token="!",
        model_max_length=max_length,
    )


def tiny_towers(vocab_size: int, max_positions: int) -> tuple[dict, dict]:
    """Text and vision tower configs small enough to build in well under a second."""
    text = dict(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=max_positions,
        pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )
    vision = dict(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        image_size=64, patch_size=16,
    )
    return text, vision


def save_tiny_detector(root: Path, kind: str = "owlv2") -> Path:
    """Save a randomly initialised OWLv2 or OWL-ViT with its real processor classes under
    `root`; returns the model directory."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    tokenizer = tiny_tokenizer(root / "tok", max_length=16)
    text, vision = tiny_towers(len(tokenizer), 16)
    if kind == "owlv2":
        config = tf.Owlv2Config(text_config=text, vision_config=vision, projection_dim=32)
        model = tf.Owlv2ForObjectDetection(config)
        images = tf.Owlv2ImageProcessor(size={"height": 64, "width": 64})
        processor = tf.Owlv2Processor(image_processor=images, tokenizer=tokenizer)
    else:
        config = tf.OwlViTConfig(text_config=text, vision_config=vision, projection_dim=32)
        model = tf.OwlViTForObjectDetection(config)
        images = tf.OwlViTImageProcessor(
            size={"height": 64, "width": 64}, crop_size={"height": 64, "width": 64}
        )
        processor = tf.OwlViTProcessor(image_processor=images, tokenizer=tokenizer)
    out = root / "model"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.fixture(scope="module", params=["owlv2", "owlvit"])
def detector_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random OWLv2 or OWL-ViT saved to disk."""
    return save_tiny_detector(tmp_path_factory.mktemp(request.param), request.param)


def test_detector_runs_batched_on_a_tiny_model(detector_dir: Path) -> None:
    """One batch of differently sized images and query lists: boxes per image, labels from its
    own queries, coordinates inside the image; an image without queries gets no boxes."""
    detector = TransformersDetector(detector_dir, device="cpu")
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, (90, 70, 3), dtype=np.uint8),
        rng.integers(0, 256, (40, 120, 3), dtype=np.uint8),
        rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
    ]
    labels = [["cat", "dog"], ["owl"], []]
    found = detector.detect(images, labels, threshold=0.0)
    assert len(found) == 3
    assert found[0] and found[1], "threshold 0 keeps every predicted box"
    assert found[2] == []
    for image, names, image_boxes in zip(images, labels, found, strict=True):
        height, width = image.shape[:2]
        for box in image_boxes:
            assert box.label in names
            assert 0.0 <= box.score <= 1.0
            left, top, right, bottom = box.box
            assert 0 <= left <= right <= width and 0 <= top <= bottom <= height


def test_detector_threshold_filters(detector_dir: Path) -> None:
    """A threshold above every sigmoid score returns no boxes."""
    detector = TransformersDetector(detector_dir, device="cpu")
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    assert detector.detect([image], [["cat"]], threshold=1.0) == [[]]


def test_missing_detector_dir_is_model_unavailable(tmp_path: Path) -> None:
    """A directory without a checkpoint fails at load with ModelUnavailable naming it."""
    with pytest.raises(ModelUnavailable, match=str(tmp_path)):
        TransformersDetector(tmp_path)


def test_unsupported_detector_type_is_refused(tmp_path: Path) -> None:
    """A checkpoint of another architecture (here CLIP) is refused, naming the supported ones."""
    import transformers as tf

    text, vision = tiny_towers(64, 16)
    tf.CLIPConfig(text_config=text, vision_config=vision).save_pretrained(tmp_path)
    with pytest.raises(ModelUnavailable, match="owlv2, owlvit"):
        TransformersDetector(tmp_path)
