"""Score the evaluation set with each reader and with the best of two; print the table per split.

    .venv/bin/python -m bench.evalset.evaluate                      # run the readers (≈1–2 min, 2 cores)
    .venv/bin/python -m bench.evalset.evaluate --record             # … and rewrite recorded_scores.json
    .venv/bin/python -m bench.evalset.evaluate --recorded           # table from recorded_scores.json

Per reader and split: mean absolute error of text_fidelity against the true fidelity; false alarms
on correct renders (fidelity < FAILING_BELOW); right verdicts on wrong renders (fidelity below it);
edge cases right (the same verdict as the truth and an error ≤ EDGE_TOLERANCE); seconds per image.
Best of two is the higher fidelity of EasyOCR and RapidOCR for each image.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from driftmon.expectations import expected_lines
from driftmon.scoring.text import score_text

DATA = Path(__file__).resolve().parent / "data"
RECORDED = Path(__file__).resolve().parent / "recorded_scores.json"
FAILING_BELOW = 0.85
EDGE_TOLERANCE = 0.1
READERS = ("easyocr", "rapidocr")
BEST = "best of two"
SPLITS = ("tuning", "held-out")


def load_manifest(data: Path = DATA) -> list[dict[str, Any]]:
    """The manifest's rows, in index order."""
    text = (data / "manifest.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_image(row: dict[str, Any], data: Path = DATA) -> np.ndarray:
    with Image.open(data / row["path"]) as image:
        return np.asarray(image.convert("RGB"))


def make_reader(name: str) -> Any:
    """An OcrEngine by name: EasyOCR as driftmon builds it today, or RapidOCR."""
    if name == "easyocr":
        from driftmon.scoring.ocr import make_ocr_engine

        return make_ocr_engine("auto", device="cpu")
    from driftmon.scoring.rapid import RapidOcrReader

    return RapidOcrReader(threads=2)


def score_row(reader: Any, row: dict[str, Any], data: Path = DATA) -> dict[str, Any]:
    """One image read and scored: fidelity, text read, seconds, whether accents were folded."""
    image = load_image(row, data)
    started = time.perf_counter()
    [detections] = reader.read([image])
    seconds = time.perf_counter() - started
    lines = expected_lines(row["prompt"], row["expected_text"])
    scores = score_text(lines, detections, charset=getattr(reader, "charset", None))
    return {
        "fidelity": round(scores.text_fidelity or 0.0, 4),
        "ocr_text": scores.ocr_text,
        "seconds": round(seconds, 3),
        "folded": scores.accents_folded,
        "reading": scores.reading,
    }


def run_readers(rows: list[dict[str, Any]], progress: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """{reader: {path: scored row}} for both readers."""
    recorded: dict[str, dict[str, Any]] = {}
    for name in READERS:
        reader = make_reader(name)
        reader.read([load_image(rows[0])])  # warm-up, not timed
        recorded[name] = {}
        for row in rows:
            recorded[name][row["path"]] = score_row(reader, row)
            progress(f"{name} {row['path']} {recorded[name][row['path']]['fidelity']}")
    return recorded


def with_best_of_two(recorded: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`recorded` plus the best of two: per image, the reading with the higher fidelity."""
    best = {
        path: max((recorded[name][path] for name in READERS), key=lambda r: r["fidelity"])
        for path in recorded[READERS[0]]
    }
    return {**recorded, BEST: best}


@dataclass(frozen=True)
class Figures:
    """One reader's figures on one split."""

    mae: float
    false_alarms: int
    correct: int
    wrong_right: int
    wrong: int
    edge_right: int
    edge: int
    seconds: float


def edge_is_right(fidelity: float, truth: float) -> bool:
    return (fidelity < FAILING_BELOW) == (truth < FAILING_BELOW) and abs(fidelity - truth) <= EDGE_TOLERANCE


def figures(rows: Iterable[dict[str, Any]], scored: dict[str, Any]) -> Figures:
    rows = list(rows)
    fid = {row["path"]: scored[row["path"]]["fidelity"] for row in rows}

    def of(kind: str) -> list[dict[str, Any]]:
        return [row for row in rows if row["kind"] == kind]

    return Figures(
        mae=float(np.mean([abs(fid[r["path"]] - r["truth"]) for r in rows])),
        false_alarms=sum(fid[r["path"]] < FAILING_BELOW for r in of("correct")),
        correct=len(of("correct")),
        wrong_right=sum(fid[r["path"]] < FAILING_BELOW for r in of("wrong")),
        wrong=len(of("wrong")),
        edge_right=sum(edge_is_right(fid[r["path"]], r["truth"]) for r in of("edge")),
        edge=len(of("edge")),
        seconds=float(np.mean([scored[r["path"]]["seconds"] for r in rows])),
    )


def table(rows: list[dict[str, Any]], recorded: dict[str, dict[str, Any]]) -> str:
    """A Markdown table: one row per split and reader."""
    out = [
        "| split | reader | mean abs error | false alarms on correct | right verdicts on wrong "
        "| edge cases right | s/image |",
        "|---|---|---|---|---|---|---|",
    ]
    for split in SPLITS:
        part = [row for row in rows if row["split"] == split]
        for name, scored in with_best_of_two(recorded).items():
            f = figures(part, scored)
            seconds = "—" if name == BEST else f"{f.seconds:.2f}"
            out.append(
                f"| {split} | {name} | {f.mae:.3f} | {f.false_alarms}/{f.correct} "
                f"| {f.wrong_right}/{f.wrong} | {f.edge_right}/{f.edge} | {seconds} |"
            )
    return "\n".join(out)


def misses(rows: list[dict[str, Any]], recorded: dict[str, dict[str, Any]], split: str) -> list[str]:
    """Per reader, the images of `split` with an error above EDGE_TOLERANCE (for tuning)."""
    lines = []
    for name, scored in with_best_of_two(recorded).items():
        for row in rows:
            got = scored[row["path"]]
            if row["split"] == split and abs(got["fidelity"] - row["truth"]) > EDGE_TOLERANCE:
                lines.append(
                    f"{name:12} {row['path']:18} truth {row['truth']:.2f} got {got['fidelity']:.2f} "
                    f"expected {row['expected_text']!r} read {got['ocr_text']!r}"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recorded", action="store_true", help="use recorded_scores.json")
    parser.add_argument("--record", action="store_true", help="rewrite recorded_scores.json")
    parser.add_argument("--misses", action="store_true", help="list the tuning half's misses")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    rows = load_manifest()
    if args.recorded:
        recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    else:
        recorded = run_readers(rows, print if args.verbose else lambda _: None)
    if args.record:
        RECORDED.write_text(json.dumps(recorded, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    print(table(rows, recorded))
    if args.misses:
        print("\n".join(misses(rows, recorded, "tuning")))


if __name__ == "__main__":
    main()
