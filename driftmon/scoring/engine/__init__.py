"""Batched OCR over EasyOCR's weights: same text as `readtext`, a batch at a time.

Import cost is torch + OpenCV; the CLI sub-app lives in `driftmon.scoring.engine.cli`.
"""

from driftmon.scoring.engine.engine import BatchedOcrEngine
from driftmon.scoring.engine.params import ReadParams
from driftmon.scoring.engine.weights import WeightFiles, export_fp16, locate_weights

__all__ = ["BatchedOcrEngine", "ReadParams", "WeightFiles", "export_fp16", "locate_weights"]
