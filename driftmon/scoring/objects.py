"""Object counts: a zero-shot detector from a local directory, and GenEval's counting rule.

The rule (GenEval, djghosh13/geneval; docs/composition.md): after same-class boxes overlapping
by more than ``dedup_iou`` are merged (T2I-CompBench's deduplication), an object asked for N
times passes when at least N of its boxes score at least the presence threshold and no more
than N score at least the counting threshold. ``object_count_match`` is the share of the
expected objects that pass.

The detector is any :class:`ObjectDetector`; :class:`TransformersDetector` runs OWLv2 or
OWL-ViT checkpoints (``Owlv2ForObjectDetection``/``OwlViTForObjectDetection`` with their
processors) from a local directory, never the network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from driftmon.errors import ModelUnavailable

#: (left, top, right, bottom) in pixels
Box = tuple[float, float, float, float]
#: the text query for an object name, as in OWL-ViT's examples
QUERY_TEMPLATE = "a photo of a {}"
SUPPORTED_DETECTORS = ("owlv2", "owlvit")


@dataclass(frozen=True, slots=True)
class ObjectBox:
    """One detected object: the name it was queried by, its score and its box."""

    label: str
    score: float
    box: Box


class ObjectDetector(Protocol):
    """Finds the named objects in RGB uint8 images; one list of boxes per image."""

    name: str
    device: str

    def detect(
        self, images: Sequence[np.ndarray], labels: Sequence[Sequence[str]], threshold: float
    ) -> list[list[ObjectBox]]: ...


# --------------------------------------------------------------------------- counting (pure)


@dataclass(frozen=True, slots=True)
class ObjectCount:
    """One expected object: how many were asked for and found, and whether the count passes."""

    name: str
    expected: int
    found: int
    confident: int
    passed: bool
    boxes: tuple[ObjectBox, ...]

    def as_json(self) -> dict[str, Any]:
        """A JSON-able view for evidence."""
        return {
            "name": self.name, "expected": self.expected, "found": self.found,
            "confident": self.confident, "passed": self.passed,
            "boxes": [[round(v, 1) for v in b.box] + [round(b.score, 3)] for b in self.boxes],
        }


@dataclass(frozen=True, slots=True)
class CountResult:
    """Counts of one image: `match` is the share of expected objects that pass (None: none)."""

    match: float | None
    objects: tuple[ObjectCount, ...]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def dedupe(boxes: Sequence[ObjectBox], max_iou: float) -> list[ObjectBox]:
    """Greedy same-class deduplication: highest score first, drop boxes overlapping a kept one
    of the same label by more than `max_iou`."""
    kept: list[ObjectBox] = []
    for box in sorted(boxes, key=lambda b: b.score, reverse=True):
        if all(k.label != box.label or iou(k.box, box.box) <= max_iou for k in kept):
            kept.append(box)
    return kept


def count_objects(
    expected: Mapping[str, int],
    boxes: Sequence[ObjectBox],
    presence_threshold: float = 0.3,
    count_threshold: float = 0.9,
    dedup_iou: float = 0.9,
) -> CountResult:
    """Apply GenEval's counting rule to the detected `boxes` for each expected object."""
    if not expected:
        return CountResult(None, ())
    unique = dedupe([b for b in boxes if b.score >= presence_threshold], dedup_iou)
    counts = []
    for name, n in expected.items():
        mine = tuple(b for b in unique if b.label == name)
        confident = sum(1 for b in mine if b.score >= count_threshold)
        passed = len(mine) >= n and confident <= n
        counts.append(ObjectCount(name, n, len(mine), confident, passed, mine))
    return CountResult(sum(c.passed for c in counts) / len(counts), tuple(counts))


# ------------------------------------------------------------------------ transformers edge


def offline_environment() -> None:
    """Keep the Hugging Face libraries off the network for this process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def device_kwargs(device: str) -> dict[str, str]:
    """Processor arguments that run image preprocessing on `device` (torchvision backend);
    none on the CPU, where it runs anyway."""
    return {} if device == "cpu" else {"device": device}


def check_model_dir(model_dir: str | Path, what: str) -> Path:
    """`model_dir` as a Path, or ModelUnavailable when it holds no transformers checkpoint."""
    directory = Path(model_dir)
    if not (directory / "config.json").is_file():
        raise ModelUnavailable(f"{directory}: no {what} checkpoint (config.json missing)")
    return directory


class TransformersDetector:
    """A zero-shot detector (OWLv2 or OWL-ViT) loaded from `model_dir`, batched on `device`."""

    name = "transformers"

    def __init__(self, model_dir: str | Path, device: str = "cpu") -> None:
        offline_environment()
        from transformers import AutoConfig, AutoModelForZeroShotObjectDetection, AutoProcessor

        self.model_dir = check_model_dir(model_dir, "detector")
        self.device = device
        try:
            config = AutoConfig.from_pretrained(self.model_dir, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"{self.model_dir}: cannot read detector config: {exc}") from exc
        self.model_type = str(config.model_type)
        if self.model_type not in SUPPORTED_DETECTORS:
            raise ModelUnavailable(
                f"{self.model_dir}: detector type {self.model_type!r} is not supported "
                f"(use one of {', '.join(SUPPORTED_DETECTORS)})"
            )
        try:
            self.processor = AutoProcessor.from_pretrained(  # type: ignore[no-untyped-call]
                self.model_dir, local_files_only=True
            )
            model = AutoModelForZeroShotObjectDetection.from_pretrained(
                self.model_dir, local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"{self.model_dir}: cannot load detector: {exc}") from exc
        self.model = model.to(device).eval()

    def _target_size(self, image: np.ndarray) -> tuple[int, int]:
        height, width = image.shape[:2]
        # OWLv2 pads every image to a square (bottom and right) before resizing
        if self.model_type == "owlv2":
            side = max(height, width)
            return (side, side)
        return (height, width)

    def detect(
        self, images: Sequence[np.ndarray], labels: Sequence[Sequence[str]], threshold: float
    ) -> list[list[ObjectBox]]:
        """Boxes of `labels[i]` in `images[i]` scoring above `threshold`, one forward pass."""
        wanted = [i for i, names in enumerate(labels) if names]
        found: list[list[ObjectBox]] = [[] for _ in images]
        if not wanted:
            return found
        for i, boxes in zip(wanted, self._run([images[i] for i in wanted],
                                              [list(labels[i]) for i in wanted], threshold),
                            strict=True):
            found[i] = boxes
        return found

    def _run(
        self, images: list[np.ndarray], labels: list[list[str]], threshold: float
    ) -> list[list[ObjectBox]]:
        import torch

        queries = [[QUERY_TEMPLATE.format(name) for name in names] for names in labels]
        inputs = self.processor(
            text=queries, images=images, return_tensors="pt", truncation=True,
            **device_kwargs(self.device),
        ).to(self.device)
        with torch.inference_mode():
            outputs = self.model(**inputs)
        results = self.processor.post_process_grounded_object_detection(
            outputs, threshold=threshold, target_sizes=[self._target_size(im) for im in images]
        )
        return [
            _boxes(result, names, image.shape[:2])
            for result, names, image in zip(results, labels, images, strict=True)
        ]


def _boxes(result: Mapping[str, Any], names: list[str], shape: tuple[int, ...]) -> list[ObjectBox]:
    """Post-processed detector output → ObjectBoxes clipped to the image; padded queries dropped."""
    height, width = shape[0], shape[1]
    boxes = []
    for score, label, box in zip(
        result["scores"].tolist(), result["labels"].tolist(), result["boxes"].tolist(), strict=True
    ):
        if label >= len(names):
            continue
        left, top, right, bottom = box
        clipped = (
            min(max(left, 0.0), width), min(max(top, 0.0), height),
            min(max(right, 0.0), width), min(max(bottom, 0.0), height),
        )
        boxes.append(ObjectBox(names[label], float(score), clipped))
    return boxes
