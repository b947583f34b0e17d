"""Bounded cost per image (W1): the OCR reads at most `max_side` pixels a side, once per image,
and its boxes come back in the original image's pixels (structural: a spy engine, no timing)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.config import ScoringConfig
from driftmon.scoring.bounded import Scale, bounded, bounded_size
from driftmon.scoring.scorer import Scorer
from driftmon.scoring.types import Detection


class SpyOcr:
    """Records the shapes it is given; finds one word filling the middle half of each image."""

    name, device, charset = "spy", "cpu", None

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def read(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        self.shapes.extend(image.shape for image in images)
        found = []
        for image in images:
            h, w = image.shape[:2]
            box = ((w / 4, h / 4), (3 * w / 4, h / 4), (3 * w / 4, 3 * h / 4), (w / 4, 3 * h / 4))
            found.append([Detection(box, "OPEN", 0.99)])
        return found


def test_the_default_is_1024() -> None:
    assert ScoringConfig().max_side == 1024
    assert Scorer(SpyOcr()).max_side == 1024


def test_a_large_image_is_read_at_max_side_and_boxes_come_back_in_original_pixels() -> None:
    """6300×4200 with max_side 2048: the engine sees 2048×1365; the box is in 6300×4200 pixels."""
    spy = SpyOcr()
    image = np.full((4200, 6300, 3), 255, np.uint8)
    result = Scorer(spy, max_side=2048).score(image, ["OPEN"])
    assert spy.shapes == [(1365, 2048, 3)]
    (detection,) = result.detections
    assert detection.left == pytest.approx(6300 / 4, abs=0.01)
    assert detection.bottom == pytest.approx(3 * 4200 / 4, abs=0.01)
    assert result.scores["text_fidelity"] == 1.0


def test_small_images_and_max_side_0_are_read_as_they_are() -> None:
    spy = SpyOcr()
    Scorer(spy, max_side=2048).score(np.zeros((512, 2048, 3), np.uint8), ["x"])
    Scorer(spy, max_side=0).score(np.zeros((3000, 100, 3), np.uint8), ["x"])
    assert spy.shapes == [(512, 2048, 3), (3000, 100, 3)]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 20000), st.integers(1, 20000), st.integers(1, 4096))
def test_bounded_size_fits_and_keeps_the_aspect(width: int, height: int, max_side: int) -> None:
    """Both sides ≥ 1 and ≤ max_side (or unchanged when they fit); the aspect within a pixel."""
    w, h = bounded_size(width, height, max_side)
    if max(width, height) <= max_side:
        assert (w, h) == (width, height)
        return
    assert 1 <= w <= max_side and 1 <= h <= max_side and max(w, h) == max_side
    assert abs(w * height - h * width) <= max(width, height)


def test_scale_maps_a_resized_box_back() -> None:
    small, scale = bounded(np.zeros((300, 900, 3), np.uint8), 300)
    assert small.shape == (100, 300, 3) and scale == Scale(3.0, 3.0)
    box = ((1.0, 2.0), (3.0, 2.0), (3.0, 4.0), (1.0, 4.0))
    assert scale.detection(Detection(box, "a", 1.0)).box[2] == (9.0, 12.0)
