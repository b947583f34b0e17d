"""Benchmark: `driftmon score`'s code path vs plain `easyocr.Reader.readtext`, same images, one run;
with --readers, seconds per image with the second reader off, on_fail and always.

    python bench/score_cpu.py [--n 20] [--size 512] [--rounds 2]
    python bench/score_cpu.py --readers [--correct 30] [--wrong 4] [--rounds 2]

Both paths read the same PNG files from disk. The baseline is EasyOCR's own Reader (same
weights, CPU) calling readtext on the decoded array; ours decodes with driftmon.images.decode, runs
the OCR engine `driftmon score` picks, and computes every text score. Rounds alternate so drift
in machine load hits both. Target: ratio ≥ 0.9 (the wrapper costs at most 10%).

--readers: a mostly-correct stream, the evaluation set's 30 correct renders plus `--wrong` wrong
ones (bench/evalset/data), scored in batches of 8 by one EasyOCR engine with the second reader
(RapidOCR) off, on_fail and always; modes alternate each round, the best round counts. Prints
seconds per image, the images re-read and failing per mode, and the ratios to off. Target:
on_fail within 20% of off (ratio ≤ 1.2).
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
    from driftmon.config import ScoringConfig
    from driftmon.images.decode import load_image_file
    from driftmon.scoring.factory import build_scorer

    scorer = build_scorer(ScoringConfig(device="cpu"))  # `driftmon score --device cpu`'s scorer
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


MODES = ("off", "on_fail", "always")
BATCH = 8


def mostly_correct_stream(correct: int, wrong: int) -> list[tuple[np.ndarray, tuple[str, ...]]]:
    """The evaluation set's first `correct` correct renders and first `wrong` wrong ones, decoded."""
    from bench.evalset.evaluate import load_image, load_manifest
    from driftmon.expectations import expected_lines

    rows = load_manifest()
    chosen = [r for r in rows if r["kind"] == "correct"][:correct]
    chosen += [r for r in rows if r["kind"] == "wrong"][:wrong]
    return [(load_image(r), expected_lines(r["prompt"], r["expected_text"])) for r in chosen]


def reader_scorers() -> dict[str, object]:
    """One Scorer per mode over one EasyOCR engine and one RapidOCR reader (built once)."""
    from driftmon.scoring.ocr import make_ocr_engine
    from driftmon.scoring.rapid import RapidOcrReader
    from driftmon.scoring.scorer import Scorer, SecondReader

    ocr = make_ocr_engine("auto", device="cpu")
    rapid = RapidOcrReader()
    return {
        mode: Scorer(ocr, second=None if mode == "off" else SecondReader(mode, lambda: rapid))  # type: ignore[arg-type]
        for mode in MODES
    }


def run_mode(scorer: object, stream: list[tuple[np.ndarray, tuple[str, ...]]]) -> tuple[float, int, int]:
    """Seconds per image, images re-read by the second reader, images failing (fidelity < 0.85)."""
    started = time.perf_counter()
    results = []
    for start in range(0, len(stream), BATCH):
        batch = stream[start : start + BATCH]
        results += scorer.score_batch([im for im, _ in batch], [lines for _, lines in batch])  # type: ignore[attr-defined]
    seconds = (time.perf_counter() - started) / len(stream)
    reread = sum(1 for r in results if "readers" in r.evidence)
    failing = sum(1 for r in results if (r.text.text_fidelity or 0.0) < 0.85)
    return seconds, reread, failing


def main_readers(correct: int, wrong: int, rounds: int) -> None:
    stream = mostly_correct_stream(correct, wrong)
    scorers = reader_scorers()
    for scorer in scorers.values():  # warm-up (and RapidOCR's first use), not timed
        run_mode(scorer, stream[-2:])
    best: dict[str, tuple[float, int, int]] = {}
    per_round: dict[str, list[float]] = {mode: [] for mode in MODES}
    for index in range(rounds):
        for mode in MODES if index % 2 == 0 else tuple(reversed(MODES)):
            measured = run_mode(scorers[mode], stream)
            per_round[mode].append(measured[0])
            if mode not in best or measured[0] < best[mode][0]:
                best[mode] = measured
    print(f"images={len(stream)} (correct={correct}, wrong={wrong}) batch={BATCH} rounds={rounds}")
    for mode in MODES:
        seconds, reread, failing = best[mode]
        rounds_text = ", ".join(f"{s:.3f}" for s in per_round[mode])
        print(f"{mode:8s} {seconds:.3f} s/image  re-read={reread} failing={failing}  (rounds: {rounds_text})")
    off = best["off"][0]
    on_fail, always = best["on_fail"][0] / off, best["always"][0] / off
    print(f"ratio on_fail/off={on_fail:.3f} (target <= 1.2)  always/off={always:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--readers", action="store_true", help="second reader off vs on_fail vs always")
    parser.add_argument("--correct", type=int, default=30, help="--readers: correct renders (≤ 30)")
    parser.add_argument("--wrong", type=int, default=4, help="--readers: wrong renders in the stream")
    args = parser.parse_args()
    if args.readers:
        main_readers(args.correct, args.wrong, args.rounds)
        return
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
