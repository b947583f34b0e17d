"""Image sanity: blank, sharpness and size (pure).

* blank: the grey-level standard deviation is at most ``blank_max_std`` (uniform) or the 99th
  percentile grey level is at most ``blank_black_level`` (near-black).
* sharpness: the variance of the Laplacian (3×3 aperture) of the grey image at native size.
* size_ok: the image is exactly the requested width × height; None when none was requested.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from driftmon.samples import SampleMeta
from driftmon.scoring.checks.base import Batch, Finding, flag


@dataclass(frozen=True, slots=True)
class SanityResult:
    """Blank, sharpness and size of one image, with the statistics behind them."""

    blank: bool
    sharpness: float
    size_ok: bool | None
    grey_std: float
    grey_p99: float


def grey(image: np.ndarray) -> np.ndarray:
    """The grey (BT.601 luma) version of an RGB uint8 image; grey images pass through."""
    if image.ndim == 2:
        return image
    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)


def percentile_u8(values: np.ndarray, q: float) -> float:
    """The `q`-th percentile (lower value) of uint8 values, from their histogram."""
    counts = np.bincount(values.ravel(), minlength=256)
    rank = q / 100.0 * (values.size - 1)
    return float(np.searchsorted(np.cumsum(counts), rank, side="right"))


def sharpness(grey_image: np.ndarray) -> float:
    """Variance of the Laplacian of a grey image (higher is sharper)."""
    return float(cv2.Laplacian(grey_image, cv2.CV_64F).var())


def check_sanity(
    image: np.ndarray,
    requested_size: tuple[int, int] | None,
    blank_max_std: float = 2.0,
    blank_black_level: float = 20.0,
) -> SanityResult:
    """Blank (uniform or near-black), sharpness and size check of one image."""
    g = grey(image)
    std = float(g.std())
    p99 = percentile_u8(g, 99.0)
    blank = std <= blank_max_std or p99 <= blank_black_level
    size_ok = None
    if requested_size is not None:
        size_ok = (image.shape[1], image.shape[0]) == tuple(requested_size)
    return SanityResult(blank, sharpness(g), size_ok, std, p99)


class SanityCheck:
    """`blank`, `sharpness` and `size_ok`."""

    name = "sanity"

    def __init__(self, blank_max_std: float, blank_black_level: float) -> None:
        self.blank_max_std = blank_max_std
        self.blank_black_level = blank_black_level

    def run(self, batch: Batch) -> list[Finding]:
        """One finding per image."""
        return [self._one(image, meta) for image, meta in zip(batch.images, batch.metas, strict=True)]

    def _one(self, image: np.ndarray, meta: SampleMeta) -> Finding:
        sanity = check_sanity(image, meta.size, self.blank_max_std, self.blank_black_level)
        evidence = {
            "size": [image.shape[1], image.shape[0]],
            "requested_size": None if meta.size is None else list(meta.size),
            "grey_std": round(sanity.grey_std, 3), "grey_p99": sanity.grey_p99,
        }
        return Finding(
            {"blank": flag(sanity.blank), "sharpness": sanity.sharpness,
             "size_ok": flag(sanity.size_ok)},
            {"sanity": evidence},
        )
