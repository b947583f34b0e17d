"""Alignment: CLIPScore between prompt and image, and the image embeddings embedding drift
watches; the CLIP model runs once per batch (driftmon.scoring.alignment)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from driftmon.scoring.checks.base import Batch, Finding

#: the score this check computes (driftmon.signals)
SCORE = "clip_score"


class Embedder(Protocol):
    """Embeds images and scores them against prompts (driftmon.scoring.alignment.ClipEmbedder)."""

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray: ...

    def score(self, image_embeddings: np.ndarray, prompts: Sequence[str]) -> np.ndarray: ...


class AlignmentCheck:
    """`clip_score` (when `score`), and each image's embedding (when `keep_embeddings`)."""

    name = "alignment"

    def __init__(self, embedder: Embedder, score: bool, keep_embeddings: bool) -> None:
        self.embedder = embedder
        self.score = score
        self.keep_embeddings = keep_embeddings

    def run(self, batch: Batch) -> list[Finding]:
        """One finding per image."""
        if not batch.images:
            return []
        embeddings = self.embedder.embed_images(batch.images)
        clip = self._clip_scores(embeddings, [m.prompt for m in batch.metas])
        return [
            Finding(
                {SCORE: clip[i]},
                embedding=embeddings[i] if self.keep_embeddings else None,
            )
            for i in range(len(batch.images))
        ]

    def _clip_scores(
        self, embeddings: np.ndarray, prompts: Sequence[str | None]
    ) -> list[float | None]:
        scores: list[float | None] = [None] * len(prompts)
        with_prompt = [i for i, p in enumerate(prompts) if p]
        if not self.score or not with_prompt:
            return scores
        found = self.embedder.score(embeddings[with_prompt], [prompts[i] or "" for i in with_prompt])
        for i, value in zip(with_prompt, found.tolist(), strict=True):
            scores[i] = float(value)
        return scores
