"""CLIPScore arithmetic, and the CLIP code path on a tiny randomly initialised CLIPModel saved to a
temp dir (same classes and processor as the released checkpoints; no accuracy claimed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from driftmon.errors import ModelUnavailable
from driftmon.scoring.alignment import (
    CLIPSCORE_WEIGHT,
    ClipEmbedder,
    clip_scores,
    normalise_rows,
)
from tests.unit.test_objects import tiny_tokenizer, tiny_towers


def test_clip_score_is_weighted_clipped_cosine() -> None:
    """2.5 × cos for aligned, orthogonal and opposite pairs; negative cosines clip to 0."""
    images = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [3.0, 4.0]])
    texts = np.array([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [4.0, 3.0]])
    scores = clip_scores(images, texts)
    assert scores.tolist() == pytest.approx([CLIPSCORE_WEIGHT, 0.0, 0.0, 2.5 * 24 / 25])


def test_normalise_rows_keeps_zero_rows() -> None:
    """Rows get unit norm; an all-zero row stays zero instead of dividing by zero."""
    out = normalise_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert out.tolist() == [[0.6, 0.8], [0.0, 0.0]]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised CLIPModel and CLIPProcessor with a 16-token window, saved."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("clip")
    tokenizer = tiny_tokenizer(root / "tok", max_length=16)
    text, vision = tiny_towers(len(tokenizer), 16)
    model = tf.CLIPModel(tf.CLIPConfig(text_config=text, vision_config=vision, projection_dim=24))
    images = tf.CLIPImageProcessor(
        size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}
    )
    out = root / "model"
    model.save_pretrained(out)
    tf.CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(out)
    return out


def test_embeddings_are_unit_norm_and_batched(clip_dir: Path) -> None:
    """Image and text embeddings come back one row per input, unit norm, projection-sized."""
    clip = ClipEmbedder(clip_dir, device="cpu")
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (80, 50, 3), dtype=np.uint8) for _ in range(3)]
    image_emb = clip.embed_images(images)
    text_emb = clip.embed_texts(["a cat", "two dogs on a sofa"])
    assert image_emb.shape == (3, 24) and text_emb.shape == (2, 24)
    assert np.linalg.norm(image_emb, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert np.linalg.norm(text_emb, axis=1) == pytest.approx(1.0, abs=1e-5)


def test_batched_embedding_equals_single(clip_dir: Path) -> None:
    """An image's embedding does not depend on the batch it is in."""
    clip = ClipEmbedder(clip_dir, device="cpu")
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(2)]
    together = clip.embed_images(images)
    alone = clip.embed_images(images[1:])
    assert together[1] == pytest.approx(alone[0], abs=1e-5)


def test_clip_score_in_range_and_long_prompts_truncate(clip_dir: Path) -> None:
    """CLIPScores lie in 0..2.5, and a prompt far past the window is truncated, not an error."""
    clip = ClipEmbedder(clip_dir, device="cpu")
    image = np.full((64, 64, 3), 127, dtype=np.uint8)
    emb = clip.embed_images([image, image])
    scores = clip.score(emb, ["a cat", "a very long prompt " * 40])
    assert scores.shape == (2,)
    assert np.all((scores >= 0.0) & (scores <= CLIPSCORE_WEIGHT))


def test_score_prefixes_the_prompt_as_the_paper_does(clip_dir: Path) -> None:
    """score() compares the image with "A photo depicts <prompt>" (Hessel et al. 2021)."""
    clip = ClipEmbedder(clip_dir, device="cpu")
    emb = clip.embed_images([np.full((64, 64, 3), 90, dtype=np.uint8)])
    direct = clip_scores(emb, clip.embed_texts(["A photo depicts a cat"]))
    assert clip.score(emb, ["a cat"]) == pytest.approx(direct, abs=1e-6)


def test_empty_inputs_give_empty_arrays(clip_dir: Path) -> None:
    """No images or texts: zero rows, no forward pass."""
    clip = ClipEmbedder(clip_dir, device="cpu")
    assert clip.embed_images([]).shape[0] == 0
    assert clip.embed_texts([]).shape[0] == 0


def test_missing_clip_dir_is_model_unavailable(tmp_path: Path) -> None:
    """No checkpoint in the configured directory: ModelUnavailable naming it."""
    with pytest.raises(ModelUnavailable, match=str(tmp_path)):
        ClipEmbedder(tmp_path)
