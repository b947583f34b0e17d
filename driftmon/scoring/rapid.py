"""A second OCR reader: RapidOCR over the PP-OCR ONNX models inside its wheel, on CPU only.

Only the three model files shipped in the pinned `rapidocr` wheel are used, each by explicit
path, so RapidOCR never reaches its download code (its default configuration resolves models by
name and downloads the missing ones). The recogniser's character list comes from the ONNX
file's own metadata, never from a downloaded dictionary. All models load at construction, so a
missing file fails at start, not on the first image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from driftmon.errors import ImageUnreadable, ModelUnavailable
from driftmon.scoring.types import Detection

#: the pinned wheel's models (rapidocr==3.10.0): detector, recogniser, 0/180° classifier
DETECTOR_FILE = "PP-OCRv6_det_small.onnx"
RECOGNIZER_FILE = "PP-OCRv6_rec_small.onnx"
CLASSIFIER_FILE = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"


def wheel_model_dir() -> Path:
    """The `models` folder inside the installed rapidocr package."""
    try:
        import rapidocr
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ModelUnavailable("rapidocr is not installed") from exc
    return Path(rapidocr.__file__).resolve().parent / "models"


def offline_params(model_dir: Path, threads: int | None) -> dict[str, Any]:
    """RapidOCR parameters that pin every model to a wheel file and the CPU execution provider."""
    paths = {name: model_dir / name for name in (DETECTOR_FILE, RECOGNIZER_FILE, CLASSIFIER_FILE)}
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        raise ModelUnavailable(f"{model_dir}: missing RapidOCR models {', '.join(missing)}")
    return {
        "Global.log_level": "warning",
        "Global.use_cls": False,  # upright text; the classifier only flips 180° lines
        "Global.model_root_dir": str(model_dir),
        "Det.model_path": str(paths[DETECTOR_FILE]),
        "Rec.model_path": str(paths[RECOGNIZER_FILE]),
        "Cls.model_path": str(paths[CLASSIFIER_FILE]),
        "EngineConfig.onnxruntime.use_cuda": False,
        "EngineConfig.onnxruntime.use_dml": False,
        "EngineConfig.onnxruntime.use_cann": False,
        "EngineConfig.onnxruntime.use_coreml": False,
        "EngineConfig.onnxruntime.intra_op_num_threads": threads or -1,
    }


def to_detections(boxes: Any, texts: Any, scores: Any) -> list[Detection]:
    """RapidOCR's output (4-point boxes clockwise from top-left, texts, scores) as Detections."""
    if boxes is None or texts is None or scores is None:
        return []
    return [
        Detection(
            tuple((float(x), float(y)) for x, y in box),  # type: ignore[arg-type]
            str(text),
            float(score),
        )
        for box, text, score in zip(boxes, texts, scores, strict=True)
    ]


def to_bgr(image: np.ndarray) -> np.ndarray:
    """RGB (or grey) uint8 → the BGR array RapidOCR expects for ndarray input."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ImageUnreadable("OCR input must be a uint8 numpy array")
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ImageUnreadable(f"OCR input has shape {image.shape}; expected H×W×3 RGB")
    return np.ascontiguousarray(image[:, :, 2::-1])


class RapidOcrReader:
    """An `OcrEngine` over RapidOCR: same Detection format as EasyOCR's engines, CPU only."""

    name = "rapidocr"
    device = "cpu"

    def __init__(self, model_dir: str | Path | None = None, threads: int | None = None) -> None:
        from rapidocr import RapidOCR

        directory = Path(model_dir) if model_dir else wheel_model_dir()
        try:
            reader: Any = RapidOCR(params=offline_params(directory, threads))
            # load now (RapidOCR loads lazily on the first image): a broken model fails at start
            reader._load_det_model()
            recognizer = reader._load_rec_model()
        except ModelUnavailable:
            raise
        except Exception as exc:  # RapidOCR raises bare ValueError/FileNotFoundError/ORT errors
            raise ModelUnavailable(f"RapidOCR could not load from {directory}: {exc}") from exc
        self.reader = reader
        #: the recogniser's output characters (from the ONNX metadata): accented Latin included
        self.charset: frozenset[str] | None = frozenset(recognizer.postprocess_op.character) or None

    def read_one(self, image: np.ndarray) -> list[Detection]:
        """Detections of one RGB uint8 image."""
        result = self.reader(to_bgr(image))
        return to_detections(result.boxes, result.txts, result.scores)

    def read(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections of each image, in order."""
        return [self.read_one(image) for image in images]
