"""Prompt–image alignment: CLIPScore and image embeddings from a local CLIP checkpoint.

CLIPScore (Hessel et al. 2021, "CLIPScore: A Reference-free Evaluation Metric for Image
Captioning"): ``2.5 × max(cos(E_image, E_text), 0)`` with the caption prefixed by
"A photo depicts", as in the paper. Range 0..2.5. Prompts longer than the text encoder's
window (77 tokens for the released CLIP models) are truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from driftmon.errors import ModelUnavailable
from driftmon.scoring.objects import check_model_dir, device_kwargs, offline_environment

#: CLIPScore's weight w
CLIPSCORE_WEIGHT = 2.5
#: the caption prefix the CLIPScore paper uses
CLIPSCORE_PREFIX = "A photo depicts "


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def clip_scores(image_embeddings: np.ndarray, text_embeddings: np.ndarray) -> np.ndarray:
    """CLIPScore of each (image, text) row pair: 2.5 × max(cosine, 0)."""
    cosine = np.sum(normalise_rows(image_embeddings) * normalise_rows(text_embeddings), axis=1)
    scores: np.ndarray = CLIPSCORE_WEIGHT * np.maximum(cosine, 0.0)
    return scores


def _features(output: Any) -> Any:
    """Projected features from get_*_features: a tensor (transformers 4) or an output whose
    pooler_output holds them (transformers 5)."""
    return output if hasattr(output, "detach") else output.pooler_output


class ClipEmbedder:
    """A transformers CLIP model (``CLIPModel`` + ``CLIPProcessor``) loaded from `model_dir`."""

    name = "clip"

    def __init__(self, model_dir: str | Path, device: str = "cpu") -> None:
        offline_environment()
        from transformers import AutoModel, AutoProcessor

        self.model_dir = check_model_dir(model_dir, "CLIP")
        self.device = device
        try:
            self.processor = AutoProcessor.from_pretrained(  # type: ignore[no-untyped-call]
                self.model_dir, local_files_only=True
            )
            model = AutoModel.from_pretrained(self.model_dir, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"{self.model_dir}: cannot load CLIP: {exc}") from exc
        if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")):
            raise ModelUnavailable(f"{self.model_dir}: {type(model).__name__} is not a CLIP model")
        self.model = model.to(device).eval()

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Unit-norm image embeddings (n × d, float32) of RGB uint8 images, one forward pass."""
        import torch

        if not images:
            return np.zeros((0, 0), dtype=np.float32)
        inputs = self.processor(
            images=list(images), return_tensors="pt", **device_kwargs(self.device)
        ).to(self.device)
        with torch.inference_mode():
            features = _features(self.model.get_image_features(pixel_values=inputs["pixel_values"]))
        return normalise_rows(features.float().cpu().numpy()).astype(np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm text embeddings (n × d, float32), truncated to the model's window."""
        import torch

        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        inputs = self.processor(
            text=list(texts), return_tensors="pt", padding=True, truncation=True
        ).to(self.device)
        with torch.inference_mode():
            features = _features(
                self.model.get_text_features(
                    input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
                )
            )
        return normalise_rows(features.float().cpu().numpy()).astype(np.float32)

    def score(self, image_embeddings: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
        """CLIPScore of each image embedding against its prompt (prefixed as in the paper)."""
        texts = self.embed_texts([CLIPSCORE_PREFIX + p for p in prompts])
        return clip_scores(image_embeddings, texts)
