"""Batched CRAFT detection: images in size buckets, one forward per sub-batch, flags on device.

EasyOCR pads each image with zeros to a multiple of 32 (after its optional resize) and runs CRAFT
on it alone. Images that pad to the same shape form a bucket here and go through the network
together, so each sees exactly the input it would see alone; no image is padded further.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from driftmon.scoring.engine.boxes import LINK, STRONG, TEXT
from driftmon.scoring.engine.params import ReadParams

#: CRAFT's ImageNet normalisation, in 0..255 pixel units (EasyOCR's normalizeMeanVariance)
MEAN = (0.485 * 255.0, 0.456 * 255.0, 0.406 * 255.0)
STD = (0.229 * 255.0, 0.224 * 255.0, 0.225 * 255.0)
#: the heat maps are half the input size; EasyOCR scales boxes back by this
HEATMAP_SCALE = 2


@dataclass(frozen=True, slots=True)
class DetectorInput:
    """One image as CRAFT sees it: zero-padded to multiples of 32, and its resize ratio."""

    canvas: np.ndarray  # H32 × W32 × 3 uint8 (RGB)
    ratio: float  # detector pixels per image pixel

    @property
    def shape(self) -> tuple[int, int]:
        return self.canvas.shape[0], self.canvas.shape[1]

    @property
    def box_scale(self) -> float:
        """Multiply heat-map coordinates by this to get image coordinates."""
        return (1 / self.ratio) * HEATMAP_SCALE


def round_up_32(value: int) -> int:
    return value + (-value) % 32


def detector_input(image: np.ndarray, params: ReadParams) -> DetectorInput:
    """EasyOCR's `resize_aspect_ratio`: shrink to `canvas_size` if larger, pad to ×32 with 0."""
    height, width = image.shape[:2]
    target = min(params.mag_ratio * max(height, width), params.canvas_size)
    ratio = target / max(height, width)
    new_h, new_w = int(height * ratio), int(width * ratio)
    if (new_h, new_w) != (height, width):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((round_up_32(new_h), round_up_32(new_w), 3), np.uint8)
    canvas[:new_h, :new_w] = image
    return DetectorInput(canvas, ratio)


def buckets(inputs: Sequence[DetectorInput]) -> list[list[int]]:
    """Indices of inputs grouped by padded shape, in order of first appearance."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, item in enumerate(inputs):
        groups[item.shape].append(index)
    return list(groups.values())


def sub_batches(indices: Sequence[int], size: int) -> list[list[int]]:
    """`indices` cut into consecutive runs of at most `size`."""
    return [list(indices[start : start + size]) for start in range(0, len(indices), size)]


def batch_limit(shape: tuple[int, int], max_batch: int, max_pixels: int) -> int:
    """Images of this padded shape per forward: bounded by count and by a pixel budget."""
    return max(1, min(max_batch, max_pixels // (shape[0] * shape[1])))


class Detector:
    """CRAFT on one device; `forward` takes canvases of one shape and returns flag maps."""

    def __init__(
        self, net: torch.nn.Module, device: torch.device, dtype: torch.dtype, params: ReadParams
    ) -> None:
        self.net = net
        self.device = device
        self.dtype = dtype
        self.params = params
        self._mean = torch.tensor(MEAN, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(STD, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    def tensor(self, canvases: Sequence[np.ndarray]) -> torch.Tensor:
        """Stacked canvases, normalised in fp32 as EasyOCR does, then in the network's layout."""
        pixels = torch.from_numpy(np.stack(canvases)).to(self.device, non_blocking=True)
        x = (pixels.permute(0, 3, 1, 2).float() - self._mean) / self._std
        return x.to(self.dtype).contiguous(memory_format=torch.channels_last)

    def heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        """CRAFT's (B, H/2, W/2, 2) text and link scores, in fp32."""
        with torch.inference_mode():
            maps: torch.Tensor = self.net(x)[0]
        return maps.float()

    def flags(self, maps: torch.Tensor) -> np.ndarray:
        """Per-pixel TEXT | LINK | STRONG flags, computed on the device, copied to the host."""
        p = self.params
        text, link = maps[..., 0], maps[..., 1]
        flags = (text > p.low_text).to(torch.uint8) * TEXT
        flags |= (link > p.link_threshold).to(torch.uint8) * LINK
        flags |= (text >= p.text_threshold).to(torch.uint8) * STRONG
        return flags.cpu().numpy()

    def forward(self, canvases: Sequence[np.ndarray]) -> np.ndarray:
        """Flag maps (B, H/2, W/2) uint8 of canvases that share one shape."""
        return self.flags(self.heatmaps(self.tensor(canvases)))
