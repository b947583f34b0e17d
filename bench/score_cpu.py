"""Benchmark: `driftmon score`'s code path vs plain `easyocr.Reader.readtext`, same images, one run.

    python bench/score_cpu.py [--n 20] [--size 512] [--rounds 2]

Both paths read the same PNG files from disk. The baseline is EasyOCR's own Reader (same
weights, CPU) calling readtext on the decoded array; ours decodes with driftmon.images, runs
the OCR engine `driftmon score` picks, and computes every text score. Rounds alternate so drift
in machine load hits both. Target: ratio ≥ 0.9 (the wrapper costs at most 10%).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = ["OPEN", "24", "HOURS", "SALE", "CAFE", "NOIR", "EXIT", "FRESH", "BREAD", "DINER", "HELLO", "WORLD"]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def make_images(directory: Path, n: int, size: int) -> list[tuple[Path, str]]:
    rng = random.Random(7)
    items = []
    for index in range(n):
        text = " ".join(rng.sample(WORDS, rng.randint(1, 3)))
        img = Image.new("RGB", (size, size), tuple(rng.randint(200, 255) for _ in range(3)))
        draw = ImageDraw.Draw(img)
        font = ImageFont.truetype(FONT, rng.randint(size // 16, size // 10))
        draw.text((size // 10, rng.randint(size // 5, size // 2)), text, font=font, fill=(20, 20, 20))
        path = directory / f"img{index:03d}.png"
        img.save(path)
        items.append((path, text))
    return items


def run_ours(items: list[tuple[Path, str]]) -> float:
    from driftmon.cli import _make_scorer
    from driftmon.images import load_image_file

    scorer = _make_scorer("cpu", "auto", None, False)
    scorer.score(load_image_file(items[0][0]), [items[0][1]])  # warm-up
    start = time.perf_counter()
    for path, text in items:
        scorer.score(load_image_file(path), [text])
    return len(items) / (time.perf_counter() - start)


def run_readtext(items: list[tuple[Path, str]]) -> float:
    import easyocr
    import easyocr_en_models

    from driftmon.scoring.ocr import quiet_easyocr

    with quiet_easyocr():
        reader = easyocr.Reader(
            ["en"],
            gpu=False,
            model_storage_directory=easyocr_en_models.model_dir(),
            user_network_directory=tempfile.mkdtemp(),
            download_enabled=False,
            verbose=False,
        )
        reader.readtext(np.asarray(Image.open(items[0][0]).convert("RGB")))
        start = time.perf_counter()
        for path, _ in items:
            reader.readtext(np.asarray(Image.open(path).convert("RGB")))
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        items = make_images(Path(tmp), args.n, args.size)
        ours, base = [], []
        for _ in range(args.rounds):
            base.append(run_readtext(items))
            ours.append(run_ours(items))
    best_ours, best_base = max(ours), max(base)
    print(f"images={args.n} size={args.size} rounds={args.rounds}")
    print(f"readtext: {best_base:.3f} img/s  (rounds: {', '.join(f'{r:.3f}' for r in base)})")
    print(f"driftmon score path: {best_ours:.3f} img/s  (rounds: {', '.join(f'{r:.3f}' for r in ours)})")
    print(f"ratio={best_ours / best_base:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
