"""`BatchedOcrEngine`: EasyOCR's readtext output, computed a batch of images at a time.

    images ─▶ pad to ×32, bucket by shape ─▶ CRAFT forward per sub-batch (device)
           ─▶ flags: thresholds on the device, one uint8 map per image to the host
           ─▶ thread pool, per image: components → boxes → lines → grey crops
           ─▶ crops of all images grouped by padded width ─▶ one forward per group
           ─▶ greedy CTC on the device ─▶ low-confidence crops again, contrast stretched

A CUDA out-of-memory error halves the sub-batch and retries (counted in `oom_retries`); only an
image that does not fit alone raises, as `ImageTooLarge`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch

from driftmon.errors import ImageTooLarge, ImageUnreadable
from driftmon.scoring.engine import networks
from driftmon.scoring.engine.boxes import group_text_boxes, heatmap_boxes, to_image_polys
from driftmon.scoring.engine.detect import (
    Detector,
    DetectorInput,
    batch_limit,
    buckets,
    detector_input,
)
from driftmon.scoring.engine.params import ReadParams
from driftmon.scoring.engine.recognize import (
    Crop,
    CtcDecoder,
    Reading,
    better,
    crops_of,
    ignored_classes,
    network_input,
    stretch_contrast,
    width_groups,
)
from driftmon.scoring.engine.weights import load_state_dict, locate_weights
from driftmon.scoring.ocr import default_model_dir, quiet_easyocr, resolve_device
from driftmon.scoring.types import Detection

#: english_g2's classes (after the CTC blank) and the symbols readtext keeps for English
CHARACTERS = (
    "0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ €"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
SYMBOLS = "0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ €"
STAGES = ("detect", "postprocess", "recognize")


def reformat(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EasyOCR's `reformat_input` for arrays: (detector image, grey image)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ImageUnreadable("OCR input must be a uint8 numpy array")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), image
    if image.ndim == 3 and image.shape[2] == 3:
        return image, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        bgr = cv2.cvtColor(image[:, :, :3], cv2.COLOR_RGB2BGR)
        return bgr, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    raise ImageUnreadable(f"OCR input has shape {image.shape}; expected H×W×3 RGB")


class BatchedOcrEngine:
    """An `OcrEngine` that reproduces `easyocr.Reader.readtext` (defaults) over whole batches.

    `max_batch` (images per detector forward) and `max_batch_pixels` (their padded pixels) may
    be changed between calls, e.g. by a scheduler that adapts them to its queue; likewise
    `max_crops` and `max_crop_pixels` for the recogniser's forwards.
    `last_stage_seconds` holds the wall time of each stage of the last `read`.
    """

    name = "batched"
    #: english_g2's output characters (no accented letters)
    charset: frozenset[str] | None = frozenset(CHARACTERS)

    def __init__(
        self,
        model_dir: str | Path | None = None,
        device: str = "auto",
        *,
        max_batch: int = 32,
        max_batch_pixels: int | None = None,
        max_crops: int = 256,
        max_crop_pixels: int = 128 * 64 * 256,
        detector_dtype: str | None = None,
        recognizer_dtype: str = "fp32",
        quantize: bool | None = None,
        workers: int | None = None,
        params: ReadParams | None = None,
        verify_weights: bool = True,
    ) -> None:
        self.device = resolve_device(device)
        self.params = params or ReadParams()
        cuda = self.device == "cuda"
        self.max_batch = max_batch
        self.max_batch_pixels = max_batch_pixels or (8 if cuda else 4) * 512 * 512
        self.oom_retries = 0
        self.last_stage_seconds = dict.fromkeys(STAGES, 0.0)
        directory = Path(model_dir) if model_dir else default_model_dir()
        files = locate_weights(directory, verify=verify_weights)
        self._torch_device = torch.device(self.device)
        if cuda:
            torch.backends.cudnn.benchmark = True  # fixed bucket shapes: autotuning pays off
        det_dtype = networks.DTYPES[detector_dtype or ("fp16" if cuda else "fp32")]
        rec_dtype = networks.DTYPES[recognizer_dtype]
        # readtext int8-quantises its recogniser on CPU only; so do we, by default
        quantize = not cuda and (rec_dtype == torch.float32 if quantize is None else quantize)
        craft = networks.craft(load_state_dict(files.detector), self._torch_device, det_dtype)
        self.detector = Detector(craft, self._torch_device, det_dtype, self.params)
        self.recognizer = networks.recognizer(
            load_state_dict(files.recognizer),
            len(CHARACTERS) + 1,
            self._torch_device,
            rec_dtype,
            quantize,
        )
        self._rec_dtype = torch.float32 if quantize else rec_dtype
        self.max_crops = max_crops
        self.max_crop_pixels = max_crop_pixels
        self.decoder = CtcDecoder(CHARACTERS, ignored_classes(CHARACTERS, SYMBOLS))
        self._pool = ThreadPoolExecutor(
            max_workers=workers or min(4, os.cpu_count() or 1), thread_name_prefix="ocr-host"
        )

    # -- public API ---------------------------------------------------------------------------

    def read(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections of each image, in order (boxes and order as readtext gives them)."""
        started = time.perf_counter()
        pairs = [reformat(image) for image in images]
        inputs = [detector_input(colour, self.params) for colour, _ in pairs]
        pending: list[Future[list[Crop]] | None] = [None] * len(inputs)
        for bucket in buckets(inputs):
            limit = batch_limit(inputs[bucket[0]].shape, self.max_batch, self.max_batch_pixels)
            self._run_halving(
                lambda chunk: self._detect(chunk, inputs, pairs, pending), bucket, limit
            )
        detected = time.perf_counter()
        crops = [crop for future in pending if future is not None for crop in future.result()]
        grouped = time.perf_counter()
        readings = self._recognize(crops)
        finished = time.perf_counter()
        self.last_stage_seconds = {
            "detect": detected - started,
            "postprocess": grouped - detected,
            "recognize": finished - grouped,
        }
        results: list[list[Detection]] = [[] for _ in images]
        for crop, reading in zip(crops, readings, strict=True):
            results[crop.image_index].append(
                Detection(crop.box, reading.text, float(reading.confidence))
            )
        return results

    def close(self) -> None:
        """Stop the host thread pool."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> BatchedOcrEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- detection ----------------------------------------------------------------------------

    def _detect(
        self,
        chunk: list[int],
        inputs: Sequence[DetectorInput],
        pairs: Sequence[tuple[np.ndarray, np.ndarray]],
        pending: list[Future[list[Crop]] | None],
    ) -> None:
        flags = self._detector_forward([inputs[i].canvas for i in chunk])
        for row, index in enumerate(chunk):
            pending[index] = self._pool.submit(
                self._crops, index, flags[row], inputs[index].box_scale, pairs[index][1]
            )

    def _detector_forward(self, canvases: list[np.ndarray]) -> np.ndarray:
        return self.detector.forward(canvases)

    def _crops(self, index: int, flags: np.ndarray, scale: float, grey: np.ndarray) -> list[Crop]:
        polys = to_image_polys(heatmap_boxes(flags), scale)
        horizontal, free = group_text_boxes(polys, self.params)
        return crops_of(index, grey, horizontal, free, self.params)

    # -- recognition --------------------------------------------------------------------------

    def _recognize(self, crops: Sequence[Crop]) -> list[Reading]:
        widths = [crop.width for crop in crops]
        first = self._read_crops([crop.pixels for crop in crops], widths)
        retry = [i for i, reading in enumerate(first) if reading.confidence < self.params.contrast_ths]
        if not retry:
            return first
        stretched = [stretch_contrast(crops[i].pixels, self.params.adjust_contrast) for i in retry]
        second = self._read_crops(stretched, [widths[i] for i in retry])
        for i, reading in zip(retry, second, strict=True):
            first[i] = better(first[i], reading)
        return first

    def _read_crops(self, pixels: Sequence[np.ndarray], widths: Sequence[int]) -> list[Reading]:
        readings: list[Reading | None] = [None] * len(pixels)
        height = self.params.model_height
        for group in width_groups(widths):

            def run(chunk: list[int]) -> None:
                batch = np.stack([network_input(pixels[i], widths[i], height) for i in chunk])
                for i, reading in zip(chunk, self._recognizer_forward(batch), strict=True):
                    readings[i] = reading

            pixels_each = height * widths[group[0]]
            limit = max(1, min(self.max_crops, self.max_crop_pixels // pixels_each))
            self._run_halving(run, group, limit)
        return [reading for reading in readings if reading is not None]

    def _recognizer_forward(self, batch: np.ndarray) -> list[Reading]:
        x = torch.from_numpy(batch).to(self._torch_device, self._rec_dtype)
        with torch.inference_mode(), quiet_easyocr(), cudnn_autotuning(False):
            logits = self.recognizer.logits(x)
            return self.decoder.decode(logits)

    # -- memory -------------------------------------------------------------------------------

    def _run_halving(self, run: Callable[[list[int]], None], items: list[int], limit: int) -> None:
        run_halving(run, items, limit, self._after_oom)

    def _after_oom(self) -> None:
        self.oom_retries += 1
        if self.device == "cuda":
            torch.cuda.empty_cache()


@contextmanager
def cudnn_autotuning(enabled: bool) -> Iterator[None]:
    """cuDNN autotuning pays off for the detector's few fixed shapes, not for the recogniser's
    many (crop count × width) shapes, each of which would be tuned on first sight."""
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


def run_halving(
    run: Callable[[list[int]], None],
    items: list[int],
    limit: int,
    after_oom: Callable[[], None] = lambda: None,
) -> int:
    """Call `run` on consecutive sub-batches of `items`, at most `limit` long.

    When `run` raises `torch.OutOfMemoryError` the same sub-batch is tried again at half the
    size (and stays at that size for the rest of the call); `after_oom` runs before each retry.
    Returns the number of retries; raises `ImageTooLarge` when a single item does not fit.
    """
    size, start, retries = max(1, limit), 0, 0
    while start < len(items):
        chunk = items[start : start + size]
        try:
            run(chunk)
        except torch.OutOfMemoryError:
            if size == 1:
                raise ImageTooLarge("one image does not fit in device memory") from None
            retries += 1
            size //= 2
            after_oom()
            continue
        start += len(chunk)
    return retries
