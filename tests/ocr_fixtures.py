"""Shared pieces of the OCR equivalence tests (CPU and GPU): the image set and the comparison."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from driftmon.scoring.engine.weights import DETECTOR, RECOGNIZER, locate_weights, published_md5
from driftmon.scoring.ocr import EasyOcrReader, default_model_dir
from driftmon.scoring.text import read_text, score_text
from driftmon.scoring.types import Detection
from tests.ocr_images import TextImage, make_text_image

#: where the GPU host's weights are (the kit's fp16 copies); default: the offline package
MODEL_DIR_VARIABLE = "OCR_TEST_MODEL_DIR"

#: square sizes cycled over the set: several buckets, one (300) that is not a multiple of 32
EQUIVALENCE_SIZES = (256, 320, 300, 384)
#: every sixth image is tilted by one of these angles (degrees): rotated boxes end to end
TILTS = (-14.0, 9.0, 20.0)


def equivalence_set(
    n: int = 56, seed: int = 7000, sizes: Sequence[int] = EQUIVALENCE_SIZES
) -> list[TextImage]:
    """`n` deterministic images with 0–4 lines, sizes cycling through `sizes`, some tilted."""
    return [
        make_text_image(
            seed + i,
            sizes[i % len(sizes)],
            TILTS[(i // 6) % len(TILTS)] if i % 6 == 5 else 0.0,
        )
        for i in range(n)
    ]


@dataclass(frozen=True)
class Comparison:
    """How two OCR engines' outputs on the same images compare."""

    identical_share: float
    worst_fidelity_gap: float
    differences: tuple[str, ...]  # "#i: 'a' vs 'b'" for images whose text differs
    reference_fidelity: tuple[float | None, ...]


def compare(
    samples: Sequence[TextImage],
    reference: Sequence[Sequence[Detection]],
    candidate: Sequence[Sequence[Detection]],
) -> Comparison:
    """Reading-order text equality and text-fidelity gaps, image by image."""
    differences, gaps, fidelities = [], [], []
    for index, (sample, ref, out) in enumerate(zip(samples, reference, candidate, strict=True)):
        if read_text(ref) != read_text(out):
            differences.append(f"#{index}: {read_text(ref)!r} vs {read_text(out)!r}")
        a = score_text(sample.lines, ref).text_fidelity
        b = score_text(sample.lines, out).text_fidelity
        gaps.append(0.0 if a is None and b is None else abs((a or 0.0) - (b or 0.0)))
        fidelities.append(a)
    return Comparison(
        identical_share=1 - len(differences) / len(samples),
        worst_fidelity_gap=max(gaps, default=0.0),
        differences=tuple(differences),
        reference_fidelity=tuple(fidelities),
    )


def ocr_model_dir() -> Path:
    """$OCR_TEST_MODEL_DIR if set (fp32 files or fp16 copies), else the offline package."""
    value = os.environ.get(MODEL_DIR_VARIABLE)
    return Path(value) if value else default_model_dir()


def widen_for_easyocr(fp16_dir: Path, target: Path) -> None:
    """fp32 copies of fp16 weights for EasyOCR's Reader, which then gets the published MD5s.

    EasyOCR MD5-checks its files at every start; widened copies cannot match, so its
    `calculate_md5` is replaced with the MD5 sums EasyOCR publishes for its weight files. Keys
    get the `module.` prefix EasyOCR's own files have (its CUDA path loads them verbatim).
    """
    import easyocr.easyocr

    for name in (DETECTOR, RECOGNIZER):
        raw = torch.load(fp16_dir / f"{name}.fp16.pth", map_location="cpu", weights_only=True)
        state = {
            (key if key.startswith("module.") else f"module.{key}"): (
                value.float() if value.is_floating_point() else value
            )
            for key, value in raw.items()
        }
        torch.save(state, target / f"{name}.pth")
    sums = published_md5()
    easyocr.easyocr.calculate_md5 = lambda path: sums[Path(path).name]


def readtext_reader(model_dir: Path, device: str, work: Path) -> EasyOcrReader:
    """EasyOCR's readtext over `model_dir`, widening fp16 copies to fp32 under `work` first."""
    if locate_weights(model_dir, verify=False).fp16:
        widened = work / "fp32"
        widened.mkdir(parents=True, exist_ok=True)
        widen_for_easyocr(model_dir, widened)
        model_dir = widened
    return EasyOcrReader(model_dir=model_dir, device=device, work_dir=work)
