"""The knobs of EasyOCR's `Reader.readtext`, with its defaults, in one frozen value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReadParams:
    """readtext's keyword defaults (EasyOCR 1.7.2); the engine reproduces its output with them."""

    # detection (CRAFT heat maps → boxes)
    text_threshold: float = 0.7
    low_text: float = 0.4
    link_threshold: float = 0.4
    canvas_size: int = 2560
    mag_ratio: float = 1.0
    # grouping boxes into lines (group_text_box)
    slope_ths: float = 0.1
    ycenter_ths: float = 0.5
    height_ths: float = 0.5
    width_ths: float = 0.5
    add_margin: float = 0.1
    min_size: int = 20
    # recognition
    model_height: int = 64
    contrast_ths: float = 0.1
    adjust_contrast: float = 0.5
