"""Batched recognition: EasyOCR's crops and preprocessing, grouped by width, greedy CTC decode.

`readtext` reads every box on its own: the crop is resized to height 64, then right-padded (by
repeating its last column) to `ceil(aspect) × 64` pixels. Crops that pad to the same width give
the network identical inputs whether read alone or together, so they share one forward here.
A crop read with confidence under `contrast_ths` is read again with its contrast stretched,
keeping the more confident reading, as EasyOCR does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from driftmon.scoring.engine.boxes import FreeBox, HorizontalBox
from driftmon.scoring.engine.params import ReadParams

Quad = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Crop:
    """One box of one image, resized to the recogniser's height, with its padded width."""

    image_index: int
    box: Quad
    pixels: np.ndarray  # uint8 grey, height `model_height` (wider or narrower)
    width: int  # padded width: ceil(aspect ratio) × model_height


@dataclass(frozen=True, slots=True)
class Reading:
    """The decoded text of one crop and EasyOCR's confidence for it."""

    text: str
    confidence: float


def _aspect(width: int, height: int) -> float:
    ratio = width / height
    return 1.0 / ratio if ratio < 1.0 else ratio


def _resize(crop: np.ndarray, model_height: int) -> tuple[np.ndarray, float]:
    """EasyOCR's `compute_ratio_and_resize` (its LANCZOS flag is cv2's INTER_LINEAR)."""
    height, width = crop.shape[:2]
    ratio = _aspect(width, height)
    if width < height:
        size = (model_height, int(model_height * ratio))
    else:
        size = (int(model_height * ratio), model_height)
    return cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR), ratio


def _make_crop(
    index: int, box: Quad, region: np.ndarray, model_height: int
) -> Crop | None:
    height, width = region.shape[:2]
    if height <= 0 or width <= 0 or int(model_height * _aspect(width, height)) == 0:
        return None
    pixels, ratio = _resize(region, model_height)
    return Crop(index, box, pixels, math.ceil(max(1.0, ratio)) * model_height)


def _length(vector: np.ndarray) -> np.float32:
    """Euclidean length in float32, summed as EasyOCR does (no BLAS dot, so no FMA)."""
    return np.float32(np.sqrt(vector[0] ** 2 + vector[1] ** 2))


def _warp(grey: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """EasyOCR's `four_point_transform`: the quad straightened to its longer sides."""
    tl, tr, br, bl = quad
    width = max(int(_length(br - bl)), int(_length(tr - tl)))
    height = max(int(_length(tr - br)), int(_length(tl - bl)))
    target = np.array(
        [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32
    )
    matrix = cv2.getPerspectiveTransform(quad, target)
    return cv2.warpPerspective(grey, matrix, (width, height))


def crops_of(
    index: int,
    grey: np.ndarray,
    horizontal: Sequence[HorizontalBox],
    free: Sequence[FreeBox],
    params: ReadParams,
) -> list[Crop]:
    """The crops of one image in readtext's order: line boxes first, then rotated boxes."""
    crops = []
    max_y, max_x = grey.shape
    for x0, x1, y0, y1 in horizontal:
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(x1, max_x), min(y1, max_y)
        left, top, right, bottom = float(x0), float(y0), float(x1), float(y1)
        box: Quad = ((left, top), (right, top), (right, bottom), (left, bottom))
        crops.append(_make_crop(index, box, grey[y0:y1, x0:x1], params.model_height))
    for quad in free:
        corners = np.array(quad, dtype=np.float32)
        box = tuple((float(x), float(y)) for x, y in quad)  # type: ignore[assignment]
        crops.append(_make_crop(index, box, _warp(grey, corners), params.model_height))
    return [crop for crop in crops if crop is not None]


def stretch_contrast(pixels: np.ndarray, target: float) -> np.ndarray:
    """EasyOCR's `adjust_contrast_grey`: stretch low-contrast crops (10th–90th percentile)."""
    high, low = np.percentile(pixels, 90), np.percentile(pixels, 10)
    if (high - low) / np.maximum(10, high + low) >= target:
        return pixels
    ratio = 200.0 / np.maximum(10, high - low)
    stretched = (pixels.astype(int) - low + 25) * ratio
    result: np.ndarray = np.clip(stretched, 0, 255).astype(np.uint8)
    return result


def network_input(pixels: np.ndarray, width: int, model_height: int) -> np.ndarray:
    """(1, H, width) float32 in [-1, 1], right-padded with the last column (NormalizePAD)."""
    height, own_width = pixels.shape
    resized_w = min(math.ceil(model_height * (own_width / height)), width)
    if (own_width, height) != (resized_w, model_height):
        image = Image.fromarray(pixels, "L").resize((resized_w, model_height), Image.Resampling.BICUBIC)
        pixels = np.asarray(image)
    scaled = (pixels.astype(np.float32) / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)
    padded: np.ndarray = np.pad(scaled, ((0, 0), (0, width - resized_w)), mode="edge")
    return padded[None]


def width_groups(widths: Sequence[int]) -> list[list[int]]:
    """Indices grouped by padded width, narrowest first."""
    groups: dict[int, list[int]] = defaultdict(list)
    for index, width in enumerate(widths):
        groups[width].append(index)
    return [groups[width] for width in sorted(groups)]


def ignored_classes(characters: str, model_symbols: str) -> list[int]:
    """Class indices readtext zeroes before decoding: characters outside English's set."""
    import easyocr

    char_file = Path(easyocr.__file__).parent / "character" / "en_char.txt"
    allowed = set(char_file.read_text(encoding="utf-8-sig").splitlines()) | set(model_symbols)
    return sorted(characters.index(c) + 1 for c in set(characters) - allowed)


class CtcDecoder:
    """Greedy CTC decoding of a batch on its device; class 0 is the blank."""

    def __init__(self, characters: str, ignored: Sequence[int]) -> None:
        self.table = np.array(["", *characters], dtype=object)
        self.ignored = list(ignored)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over classes, ignored classes zeroed and the rest renormalised."""
        probs = torch.softmax(logits.float(), dim=2)
        if self.ignored:
            probs[:, :, self.ignored] = 0.0
        return probs / probs.sum(dim=2, keepdim=True)

    def decode(self, logits: torch.Tensor) -> list[Reading]:
        """Texts and confidences of (N, T, classes) logits."""
        best, index = self.probabilities(logits).max(dim=2)
        repeat = torch.zeros_like(index, dtype=torch.bool)
        repeat[:, 1:] = index[:, 1:] == index[:, :-1]
        keep = (index != 0) & ~repeat
        nonblank = index != 0
        product = torch.where(nonblank, best, torch.ones_like(best)).prod(dim=1)
        count = nonblank.sum(dim=1)
        index_h, keep_h = index.cpu().numpy(), keep.cpu().numpy()
        product_h, count_h = product.cpu().numpy(), count.cpu().numpy()
        return [
            Reading("".join(self.table[row[mask]]), _confidence(p, int(n)))
            for row, mask, p, n in zip(index_h, keep_h, product_h, count_h, strict=True)
        ]


def _confidence(product: np.float32, count: int) -> float:
    """EasyOCR's `custom_mean`: product of the max probabilities ** (2 / sqrt(n))."""
    if count == 0:
        return 0.0
    return float(np.float64(product) ** (2.0 / np.sqrt(count)))


def better(first: Reading, second: Reading) -> Reading:
    """The contrast retry keeps the first reading only when strictly more confident."""
    return first if first.confidence > second.confidence else second
