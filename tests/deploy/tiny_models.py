"""Randomly initialised, tiny CLIP and OWLv2 checkpoints with their real processor classes.

They let the daemon run its alignment, embedding-drift and object-count paths offline, so every
metric family those paths export exists; the scores themselves mean nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SIDE = 64


def _tokenizer(directory: Path, max_length: int) -> Any:
    from transformers import CLIPTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    # id 0 pads: OWL masks queries whose first token id is 0
    vocab = {"!": 0, "<|startoftext|>": 1, "<|endoftext|>": 2}
    for char in "abcdefghijklmnopqrstuvwxyz":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab), "utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", "utf-8")
    return CLIPTokenizer(
        vocab_file=str(directory / "vocab.json"),
        merges_file=str(directory / "merges.txt"),
        pad_token="!",
        model_max_length=max_length,
    )


def _towers(vocab_size: int, max_positions: int) -> tuple[dict[str, Any], dict[str, Any]]:
    common = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}
    text = {
        **common,
        "vocab_size": vocab_size,
        "max_position_embeddings": max_positions,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    return text, {**common, "image_size": SIDE, "patch_size": 16}


def tiny_clip(root: Path) -> Path:
    """A CLIP model directory (model + processor) that AutoModel/AutoProcessor load offline."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    tokenizer = _tokenizer(root / "tokenizer", max_length=77)
    text, vision = _towers(len(tokenizer), 77)
    model = tf.CLIPModel(tf.CLIPConfig(text_config=text, vision_config=vision, projection_dim=32))
    images = tf.CLIPImageProcessor(size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE})
    out = root / "clip"
    model.save_pretrained(out)
    tf.CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(out)
    return out


def tiny_owlv2(root: Path) -> Path:
    """An OWLv2 detector directory (model + processor) loadable offline."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    tokenizer = _tokenizer(root / "owl-tokenizer", max_length=16)
    text, vision = _towers(len(tokenizer), 16)
    config = tf.Owlv2Config(text_config=text, vision_config=vision, projection_dim=32)
    model = tf.Owlv2ForObjectDetection(config)
    images = tf.Owlv2ImageProcessor(size={"height": SIDE, "width": SIDE})
    out = root / "owlv2"
    model.save_pretrained(out)
    tf.Owlv2Processor(image_processor=images, tokenizer=tokenizer).save_pretrained(out)
    return out
