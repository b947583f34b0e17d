"""Benchmark (not a test): the cost of the composition checks next to OCR, in one run.

    python bench/composition.py [--n 50] [--size 512] [--rounds 3] [--real-architectures]

(a) On `n` synthetic `size`² images with known text (tests/ocr_images.py, seeds 0..n-1),
    EasyOCR (CPU) reads each image and the text scores are computed: that is "OCR alone". The
    margin, legibility and sanity checks then run on the same images and OCR output (the best
    of `rounds` timings of the whole set). Prints both rates and the overhead
    t(checks) / t(OCR alone). Target: ≤ 15% on CPU.
(b) The model checks per image, on tiny randomly initialised OWLv2 and CLIP models built here
    (the same classes and processors as the released checkpoints; no accuracy meaning), in
    batches of 8: the detector with three queries per image, CLIP image embedding + CLIPScore.
    With --real-architectures, also the released architectures' default configurations
    (OWLv2 ViT-B/16 at 960², CLIP ViT-B/32 at 224²), randomly initialised, on 4 images.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BATCH = 8


def interleaved(reader, samples, metas, rounds: int) -> tuple[float, float]:
    """(seconds of OCR + text scores, seconds of margins + legibility + sanity) summed over the
    images; each image's checks run right after its OCR (best of `rounds`), so changes in
    machine load hit both sides alike."""
    from driftmon.config import CompositionConfig
    from driftmon.scoring.composition import CompositionScorer
    from driftmon.scoring.text import score_text

    scorer = CompositionScorer(
        CompositionConfig(objects=False, alignment=False, embedding_drift=False)
    )
    t_ocr = t_checks = 0.0
    for sample, meta in zip(samples, metas, strict=True):
        start = time.perf_counter()
        detections = reader.read([sample.image])
        texts = [score_text(list(sample.lines), detections[0])]
        t_ocr += time.perf_counter() - start
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            scorer.score_batch([sample.image], detections, texts, [meta])
            best = min(best, time.perf_counter() - start)
        t_checks += best
    return t_ocr, t_checks


def per_image_ms(
    run: Callable[[list[np.ndarray]], object], images: list[np.ndarray], batch: int
) -> float:
    """Milliseconds per image of `run` over batches of `batch` (after one warm-up batch)."""
    run(images[:batch])
    start = time.perf_counter()
    for first in range(0, len(images), batch):
        run(images[first : first + batch])
    return 1000 * (time.perf_counter() - start) / len(images)


def build_models(root: Path, real: bool) -> tuple[Path, Path]:
    """Save an OWLv2 and a CLIP (tiny, or the default architectures) under `root`."""
    import torch
    import transformers as tf

    from tests.unit.test_objects import tiny_tokenizer, tiny_towers

    torch.manual_seed(0)
    tokenizer = tiny_tokenizer(root / "tok", max_length=16)
    if real:
        # the released OWLv2 checkpoints run at 960² (the config's own default is 768)
        owl = tf.Owlv2ForObjectDetection(tf.Owlv2Config(vision_config={"image_size": 960}))
        owl_images = tf.Owlv2ImageProcessor()
        clip = tf.CLIPModel(tf.CLIPConfig())
        clip_images = tf.CLIPImageProcessor(
            size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
        )
    else:
        text, vision = tiny_towers(len(tokenizer), 16)
        owl = tf.Owlv2ForObjectDetection(
            tf.Owlv2Config(text_config=text, vision_config=vision, projection_dim=32)
        )
        owl_images = tf.Owlv2ImageProcessor(size={"height": 64, "width": 64})
        clip = tf.CLIPModel(tf.CLIPConfig(text_config=text, vision_config=vision, projection_dim=32))
        clip_images = tf.CLIPImageProcessor(
            size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}
        )
    owl_dir, clip_dir = root / "owl", root / "clip"
    owl.save_pretrained(owl_dir)
    tf.Owlv2Processor(image_processor=owl_images, tokenizer=tokenizer).save_pretrained(owl_dir)
    clip.save_pretrained(clip_dir)
    tf.CLIPProcessor(image_processor=clip_images, tokenizer=tokenizer).save_pretrained(clip_dir)
    return owl_dir, clip_dir


def model_costs(images: list[np.ndarray], real: bool, batch: int) -> tuple[float, float]:
    """(detector ms/image, CLIP ms/image) on models built in a temp dir."""
    from driftmon.scoring.alignment import ClipEmbedder
    from driftmon.scoring.objects import TransformersDetector

    with tempfile.TemporaryDirectory() as tmp:
        owl_dir, clip_dir = build_models(Path(tmp), real)
        detector = TransformersDetector(owl_dir, "cpu")
        clip = ClipEmbedder(clip_dir, "cpu")
        queries = ["cat", "dog", "sign"]
        detect_ms = per_image_ms(
            lambda some: detector.detect(some, [queries] * len(some), 0.3), images, batch
        )
        clip_ms = per_image_ms(
            lambda some: clip.score(clip.embed_images(some), ["three cats"] * len(some)),
            images, batch,
        )
    return detect_ms, clip_ms


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--real-architectures", action="store_true")
    parser.add_argument("--models-only", action="store_true", help="skip (a)")
    args = parser.parse_args()

    import torch
    from transformers.utils import logging as hf_logging

    from driftmon.samples import SampleMeta
    from driftmon.scoring.ocr import EasyOcrReader
    from tests.ocr_images import make_text_images

    hf_logging.disable_progress_bar()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    samples = make_text_images(args.n, size=args.size)
    images = [s.image for s in samples]
    metas = [SampleMeta(size=(args.size, args.size)) for _ in samples]

    if not args.models_only:
        reader = EasyOcrReader(device="cpu")
        reader.read(images[:1])  # warm-up
        t_ocr, t_checks = interleaved(reader, samples, metas, args.rounds)
        print(f"(a) {args.n} images {args.size}², EasyOCR readtext on CPU")
        print(f"    OCR alone:                         {args.n / t_ocr:7.3f} img/s")
        print(f"    OCR + margins, legibility, sanity: {args.n / (t_ocr + t_checks):7.3f} img/s")
        print(f"    checks: {1000 * t_checks / args.n:.2f} ms/image; "
              f"overhead {100 * t_checks / t_ocr:.2f}% (target ≤ 15%)")

    detect_ms, clip_ms = model_costs(images, real=False, batch=BATCH)
    print(f"(b) tiny random models (cost of the code path only), batches of {BATCH}, CPU:")
    print(f"    OWLv2 detector, 3 queries: {detect_ms:8.2f} ms/image")
    print(f"    CLIP embed + CLIPScore:    {clip_ms:8.2f} ms/image")
    if args.real_architectures:
        detect_ms, clip_ms = model_costs(images[:4], real=True, batch=2)
        print("    released architectures, randomly initialised, batches of 2, CPU:")
        print(f"    OWLv2 ViT-B/16 960², 3 queries: {detect_ms:8.1f} ms/image")
        print(f"    CLIP ViT-B/32 224² + CLIPScore: {clip_ms:8.1f} ms/image")


if __name__ == "__main__":
    main()
