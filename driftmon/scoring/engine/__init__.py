"""Batched OCR over EasyOCR's weights: same text as `readtext`, a batch at a time.

Exports are lazy so that `driftmon.scoring.engine.cli` (the `driftmon models` app) loads
without torch; `BatchedOcrEngine` and friends import torch and OpenCV on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftmon.scoring.engine.engine import BatchedOcrEngine
    from driftmon.scoring.engine.params import ReadParams
    from driftmon.scoring.engine.weights import WeightFiles, export_fp16, locate_weights

__all__ = ["BatchedOcrEngine", "ReadParams", "WeightFiles", "export_fp16", "locate_weights"]

_HOMES = {
    "BatchedOcrEngine": "engine",
    "ReadParams": "params",
    "WeightFiles": "weights",
    "export_fp16": "weights",
    "locate_weights": "weights",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
