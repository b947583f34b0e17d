"""Benchmark: seconds and peak RSS to score one very large image, at full size vs bounded.

    python bench/bounded.py [--side 6300] [--max-side 1024[,2048]]
    python bench/bounded.py --sides 512,1024,2048       seconds per stage at full size
    python bench/bounded.py --evalset 10 --side 2048 --max-side 1024   fidelity kept?

Renders a side×side PNG (white, a few words; tens of KB, under the 40 MP limit), then scores it
in two fresh processes with the same OCR engine `driftmon score` picks: once with
`scoring.max_side` 0 (the image read at full size, as before) and once with `--max-side`. Each
child reports the seconds to decode and score the image (after a warm-up on a small image) and
its peak RSS (ru_maxrss). Prints both and the ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
TEXT = "FRESH BREAD"


def render(path: Path, side: int) -> None:
    image = Image.new("RGB", (side, side), "white")
    font = ImageFont.truetype(FONT, side // 12)
    ImageDraw.Draw(image).text((side // 10, side // 3), TEXT, font=font, fill="black")
    image.save(path, optimize=True)


def child(path: Path, max_side: int) -> None:
    from driftmon.config import ScoringConfig
    from driftmon.images.decode import load_image_file
    from driftmon.scoring.factory import build_scorer

    scorer = build_scorer(ScoringConfig(device="cpu"))  # `driftmon score --device cpu`'s scorer
    scorer.max_side = max_side
    scorer.score(load_image_file(_warm_up()), [TEXT])
    stages: dict[str, float] = {}
    scorer._observe = lambda stage, seconds: stages.__setitem__(stage, round(seconds, 2))
    image = load_image_file(path)
    started = time.perf_counter()
    result = scorer.score(image, [TEXT])
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "side": image.shape[1], "max_side": max_side, "seconds": seconds, "peak_rss_mb": peak_mb,
        "fidelity": result.scores.get("text_fidelity"), "ocr_text": result.text.ocr_text, "stages": stages,
    }))


def _warm_up() -> Path:
    path = Path(tempfile.mkdtemp()) / "warm.png"
    render(path, 512)
    return path


def measure(path: Path, max_side: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), "--max-side", str(max_side)],
        capture_output=True, text=True, check=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def scaling(sides: list[int]) -> None:
    """Each side rendered and scored at full size in a fresh process: seconds per stage."""
    with tempfile.TemporaryDirectory() as directory:
        for side in sides:
            path = Path(directory) / f"{side}.png"
            render(path, side)
            row = measure(path, 0)
            per_mp = row["seconds"] / (side * side / 1e6)
            print(f"{side:>5}²: {row['seconds']:7.2f} s ({per_mp:5.2f} s/MP)  peak RSS"
                  f" {row['peak_rss_mb']:6.0f} MB  stages {row['stages']}  read {row['ocr_text']!r}",
                  flush=True)


class _Upscaled:
    """An OCR engine that reads each image upscaled to `side`² first, then bounded to `max_side`."""

    def __init__(self, reader: Any, side: int, max_side: int) -> None:
        self.reader, self.side, self.max_side = reader, side, max_side
        self.charset = getattr(reader, "charset", None)

    def read(self, images: list[np.ndarray]) -> list[list[Any]]:
        from driftmon.scoring.bounded import read_bounded

        large = [np.asarray(Image.fromarray(i).resize((self.side, self.side), Image.Resampling.LANCZOS))
                 for i in images]
        return read_bounded(self.reader, large, self.max_side)


def fidelity(count: int, side: int, max_side: int) -> None:
    """The first `count` evaluation-set images (512²) upscaled to side² and read at `max_side`:
    text_fidelity against the recorded full-resolution reading (bench/evalset/recorded_scores.json)."""
    from bench.evalset.evaluate import RECORDED, load_manifest, make_reader, score_row

    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))["easyocr"]
    reader = _Upscaled(make_reader("easyocr"), side, max_side)
    differences = []
    for row in load_manifest()[:count]:
        result = score_row(reader, row)
        before = recorded[row["path"]]["fidelity"]
        differences.append(result["fidelity"] - before)
        print(f"{row['path']}: {before:.3f} at 512² -> {result['fidelity']:.3f} from {side}² at"
              f" max_side {max_side} ({result['seconds']:.1f} s)", flush=True)
    mean = sum(differences) / len(differences)
    print(f"mean change {mean:+.4f}, worst {min(differences):+.4f} over {len(differences)} images")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=6300)
    parser.add_argument("--max-side", default="1024", help="one side, or several comma-separated")
    parser.add_argument("--sides", help="comma-separated sides: score each at full size (max_side 0)"
                        " and print the seconds per stage, to see how time grows with pixels")
    parser.add_argument("--evalset", type=int, metavar="N", help="fidelity of the first N evaluation-set"
                        " images upscaled to --side and read at --max-side, vs their recorded reading")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, int(args.max_side))
        return
    if args.evalset:
        fidelity(args.evalset, args.side, int(args.max_side))
        return
    if args.sides:
        scaling([int(side) for side in args.sides.split(",")])
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "large.png"
        render(path, args.side)
        print(f"{args.side}x{args.side} PNG, {path.stat().st_size / 1024:.0f} KiB")
        before = measure(path, 0)
        afters = [measure(path, int(side)) for side in str(args.max_side).split(",")]
    for row in (before, *afters):
        print(f"max_side={row['max_side']:>5}: {row['seconds']:7.2f} s  peak RSS {row['peak_rss_mb']:7.0f} MB"
              f"  text_fidelity {row['fidelity']}  stages {row['stages']}")
    for after in afters:
        seconds = before["seconds"] / after["seconds"]
        print(f"ratio (max_side 0 / {after['max_side']}): {seconds:.1f}x seconds,"
              f" {before['peak_rss_mb'] / after['peak_rss_mb']:.1f}x peak RSS")


if __name__ == "__main__":
    main()
