"""Pictures of failing samples (image + overlay), kept with retention by count and by age."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from driftmon.images.decode import encode_png
from driftmon.scoring.overlay import render_overlay
from driftmon.scoring.scorer import ScoreResult


class Artifacts:
    """Writes `<dir>/<id>.png` and `<dir>/<id>.overlay.png`; `prune` enforces retention."""

    def __init__(
        self,
        directory: Path,
        max_count: int,
        retention_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.max_count = max_count
        self.retention_seconds = retention_seconds
        self.clock = clock
        self.directory.mkdir(parents=True, exist_ok=True)

    def image_path(self, sample_id: str) -> Path:
        return self.directory / f"{sample_id}.png"

    def overlay_path(self, sample_id: str) -> Path:
        return self.directory / f"{sample_id}.overlay.png"

    def save(self, sample_id: str, image: np.ndarray, result: ScoreResult) -> tuple[str, str]:
        """Write the image and its overlay; returns both paths."""
        image_path, overlay_path = self.image_path(sample_id), self.overlay_path(sample_id)
        image_path.write_bytes(encode_png(image))
        render_overlay(image, result.detections, result.text).save(overlay_path, compress_level=3)
        return str(image_path), str(overlay_path)

    def prune(self) -> int:
        """Delete pictures older than the retention or beyond the newest `max_count`; returns count."""
        images = sorted(
            (p for p in self.directory.glob("*.png") if not p.name.endswith(".overlay.png")),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        cutoff = self.clock() - self.retention_seconds
        doomed = [p for i, p in enumerate(images) if i >= self.max_count or p.stat().st_mtime < cutoff]
        for path in doomed:
            path.unlink(missing_ok=True)
            path.with_name(path.stem + ".overlay.png").unlink(missing_ok=True)
        return len(doomed)
