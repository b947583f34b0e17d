"""Benchmark: seconds and peak RSS to score one very large image, at full size vs bounded.

    python bench/bounded.py [--side 6300] [--max-side 2048]

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
    from driftmon.cli import _make_scorer
    from driftmon.images import load_image_file

    scorer = _make_scorer("cpu", "auto", None, False)
    scorer.max_side = max_side
    scorer.score(load_image_file(_warm_up()), [TEXT])
    started = time.perf_counter()
    result = scorer.score(load_image_file(path), [TEXT])
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "max_side": max_side, "seconds": seconds, "peak_rss_mb": peak_mb,
        "fidelity": result.scores.get("text_fidelity"),
    }))


def _warm_up() -> Path:
    path = Path(tempfile.mkdtemp()) / "warm.png"
    render(path, 512)
    return path


def measure(path: Path, max_side: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), "--max-side", str(max_side)],
        capture_output=True, text=True, check=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=6300)
    parser.add_argument("--max-side", type=int, default=2048)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.max_side)
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "large.png"
        render(path, args.side)
        print(f"{args.side}x{args.side} PNG, {path.stat().st_size / 1024:.0f} KiB")
        before, after = measure(path, 0), measure(path, args.max_side)
    for row in (before, after):
        print(f"max_side={row['max_side']:>5}: {row['seconds']:7.2f} s  peak RSS {row['peak_rss_mb']:7.0f} MB"
              f"  text_fidelity {row['fidelity']}")
    print(f"ratio (before/after): {before['seconds'] / after['seconds']:.1f}x seconds, "
          f"{before['peak_rss_mb'] / after['peak_rss_mb']:.1f}x peak RSS")


if __name__ == "__main__":
    main()
