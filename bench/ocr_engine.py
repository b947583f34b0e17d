"""OCR benchmark (not a test): EasyOCR's readtext against the batched engine, same images, one run.

    python bench/ocr_engine.py [--device cpu|cuda] [--n N] [--size S] [--batch B]

Generates N deterministic S×S images (tests/ocr_images.py: DejaVu fonts, 0–4 lines), reads them
with `readtext` one at a time and with `BatchedOcrEngine` B at a time, interleaving the two chunk
by chunk so that load from other processes falls on both alike. Prints images/s of each, the
ratio, the share of images whose reading-order text is identical, the largest text-fidelity
difference, peak memory (CUDA: max_memory_allocated of each; CPU: the process's peak RSS) and,
last, `ratio=<engine/readtext> agreement=<share>`.

`--model-dir` may hold EasyOCR's fp32 files or fp16 copies with SHA256SUMS (the GPU kit); with
fp16 copies, readtext gets widened fp32 copies in a temp dir and EasyOCR's MD5 check is given
the MD5 sums EasyOCR publishes for its weight files, so both read the same weights.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # for tests.ocr_images when run as a script
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from driftmon.scoring.engine import BatchedOcrEngine  # noqa: E402
from driftmon.scoring.ocr import default_model_dir  # noqa: E402
from driftmon.scoring.text import read_text, score_text  # noqa: E402
from driftmon.scoring.types import Detection  # noqa: E402
from tests.ocr_fixtures import readtext_reader  # noqa: E402
from tests.ocr_images import make_text_images  # noqa: E402

Reader = Callable[[Sequence[np.ndarray]], list[list[Detection]]]


def synchronized(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(read: Reader, images: Sequence[np.ndarray], device: str) -> tuple[list, float]:
    synchronized(device)
    start = time.perf_counter()
    out = read(images)
    synchronized(device)
    return out, time.perf_counter() - start


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def describe(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32, help="engine images per read()")
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--detector-dtype", choices=("fp32", "fp16", "bf16"), default=None)
    parser.add_argument("--recognizer-dtype", choices=("fp32", "fp16", "bf16"), default="fp32")
    parser.add_argument("--max-batch-pixels", type=int, default=None)
    args = parser.parse_args()

    model_dir = args.model_dir or default_model_dir()
    samples = make_text_images(args.n, args.size, seed=args.seed)
    images = [sample.image for sample in samples]
    work = Path(tempfile.mkdtemp(prefix="bench-ocr-"))
    reader = readtext_reader(model_dir, args.device, work)
    engine = BatchedOcrEngine(
        model_dir, args.device, max_batch=args.batch,
        max_batch_pixels=args.max_batch_pixels,
        detector_dtype=args.detector_dtype, recognizer_dtype=args.recognizer_dtype,
    )
    warm = make_text_images(2, args.size, seed=args.seed + 10_000)
    reader.read([s.image for s in warm])
    engine.read([s.image for s in warm])

    ref: list[list[Detection]] = []
    out: list[list[Detection]] = []
    seconds = {"readtext": 0.0, "engine": 0.0}
    stages = dict.fromkeys(engine.last_stage_seconds, 0.0)
    peaks = {"readtext": 0.0, "engine": 0.0}
    for start in range(0, len(images), args.batch):
        chunk = images[start : start + args.batch]
        for name, read, sink in (("readtext", reader.read, ref), ("engine", engine.read, out)):
            if args.device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            result, elapsed = timed(read, chunk, args.device)
            sink.extend(result)
            seconds[name] += elapsed
            if args.device == "cuda":
                peaks[name] = max(peaks[name], torch.cuda.max_memory_allocated() / 2**30)
        for stage, value in engine.last_stage_seconds.items():
            stages[stage] += value

    same = [read_text(a) == read_text(b) for a, b in zip(ref, out, strict=True)]
    fidelity_gap = max(
        abs((score_text(s.lines, a).text_fidelity or 0.0) - (score_text(s.lines, b).text_fidelity or 0.0))
        for s, a, b in zip(samples, ref, out, strict=True)
    )
    rate = {name: len(images) / value for name, value in seconds.items()}
    ratio = rate["engine"] / rate["readtext"]
    agreement = sum(same) / len(same)
    print(f"device: {args.device} ({describe(args.device)}), torch {torch.__version__}")
    print(f"images: {len(images)} × {args.size}², engine batch {args.batch}, seed {args.seed}")
    print(f"readtext: {rate['readtext']:.2f} images/s ({seconds['readtext']:.1f} s)")
    print(f"engine:   {rate['engine']:.2f} images/s ({seconds['engine']:.1f} s; "
          + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()) + ")")
    if args.device == "cuda":
        print(f"peak GPU memory: readtext {peaks['readtext']:.2f} GiB, engine {peaks['engine']:.2f} GiB")
    else:
        print(f"peak RSS (process, both readers): {peak_rss_mib():.0f} MiB")
    print(f"identical text: {sum(same)}/{len(same)}; max text-fidelity difference {fidelity_gap:.4f}")
    for index, equal in enumerate(same):
        if not equal:
            print(f"  differs #{index}: readtext {read_text(ref[index])!r} engine {read_text(out[index])!r}")
    print(f"ratio={ratio:.2f} agreement={agreement:.3f}")


if __name__ == "__main__":
    main()
