"""``driftmon score``'s work: images with their truth → the daemon's scorer → rows on stdout.

Images come from files and directories (recursed; a directory's own ``manifest.jsonl`` is used)
or from ``--manifest``, with their truth in this order: the manifest's ``prompt``/``expected_text``,
else ``--prompt``/``--expect``, else the prompt in the image's own metadata (AUTOMATIC1111/Forge
``parameters``, ComfyUI ``prompt``), else nothing expected (driftmon/images/sets.py).

stdout carries only the rows (``table``, ``json``: one object a line, ``csv``: a header and a
row per image); stderr the rejected files (``driftmon: PATH: rejected: ...``), a progress bar
on a terminal, and one summary line: images, mean fidelity, the share failing (fidelity below
``failing_below``). The scorer, with the models, is built once, on the first readable image.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO

from driftmon.errors import ImageRejected
from driftmon.images.decode import load_image_file
from driftmon.images.sets import ImageItem, load_image_set
from driftmon.samples import SampleMeta

Format = Literal["table", "json", "csv"]
FORMATS: tuple[Format, ...] = ("table", "json", "csv")
#: images scored together (the second reader re-reads the failing ones of a batch at once)
BATCH = 8


@dataclass(frozen=True, slots=True)
class Row:
    """One scored image: where it came from, where its truth came from, and its ScoreResult."""

    item: ImageItem
    result: Any


@dataclass
class Summary:
    """Count, mean fidelity and the failing share of the rows seen so far."""

    failing_below: float
    count: int = 0
    fidelities: list[float] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.count += 1
        fidelity = row.result.text.text_fidelity
        if fidelity is not None:
            self.fidelities.append(float(fidelity))

    def line(self) -> str:
        """e.g. ``scored 12 images: mean fidelity 0.941 over 10 with expected text, failing 1/10 (10%)``."""
        if not self.fidelities:
            return f"scored {self.count} images: no expected text, no fidelity"
        judged = len(self.fidelities)
        failing = sum(1 for f in self.fidelities if f < self.failing_below)
        mean = math.fsum(self.fidelities) / judged
        return (
            f"scored {self.count} images: mean fidelity {mean:.3f} over {judged} with expected text,"
            f" failing {failing}/{judged} ({failing / judged:.0%}) below {self.failing_below:g}"
        )


def with_arguments(items: Sequence[ImageItem], prompt: str | None, expect: str | None) -> list[ImageItem]:
    """`--prompt`/`--expect` give the truth of every image a manifest does not describe
    (over its metadata); without them, items keep what they have."""
    if prompt is None and expect is None:
        return list(items)
    return [
        item
        if item.origin == "manifest"
        else replace(item, prompt=prompt, expected_text=expect, origin="argument")
        for item in items
    ]


def gather(
    paths: Sequence[Path], manifest: Path | None, prompt: str | None, expect: str | None
) -> list[ImageItem]:
    """The images to score with their truth (ManifestError names a bad manifest line)."""
    items = load_image_set(paths) if paths else []
    if manifest is not None:
        items = [*load_image_set([], manifest), *items]
    return with_arguments(items, prompt, expect)


def loaded(
    items: Iterable[ImageItem], max_pixels: int, on_rejected: Callable[[ImageItem, Exception], None]
) -> Iterator[tuple[ImageItem, Any]]:
    """Each readable image decoded; unreadable ones reported and skipped."""
    for item in items:
        try:
            yield item, load_image_file(item.path, max_pixels)
        except ImageRejected as exc:
            on_rejected(item, exc)


def batches(
    pairs: Iterable[tuple[ImageItem, Any]], size: int = BATCH
) -> Iterator[list[tuple[ImageItem, Any]]]:
    batch: list[tuple[ImageItem, Any]] = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def meta_of(item: ImageItem) -> SampleMeta:
    """What the composition checks see of an image (the prompt for CLIP, counts)."""
    return SampleMeta(prompt=item.prompt, expected_text=item.expected_text, seed=item.seed, steps=item.steps)


def score_rows(
    pairs: Iterable[tuple[ImageItem, Any]],
    make_scorer: Callable[[], Any],
    on_scored: Callable[[Row, Any], None],
) -> None:
    """Score the images in batches with one scorer, built on the first batch."""
    scorer = None
    for batch in batches(pairs):
        scorer = scorer or make_scorer()
        images = [image for _, image in batch]
        results = scorer.score_batch(
            images, [item.expected_lines for item, _ in batch], [meta_of(item) for item, _ in batch]
        )
        for (item, image), result in zip(batch, results, strict=True):
            on_scored(Row(item, result), image)


# ------------------------------------------------------------------------------------ output


def json_record(row: Row) -> dict[str, Any]:
    """One image's JSON line: path, truth, texts, every score, evidence and detections."""
    from driftmon.scoring.scorer import detections_json
    from driftmon.signals import TEXT_SCORES

    text = row.result.text
    record: dict[str, Any] = {
        "path": str(row.item.path),
        "truth": row.item.origin,
        "prompt": row.item.prompt,
        "expected_text": text.expected_text,
        "ocr_text": text.ocr_text,
        **{name: getattr(text, name) for name in TEXT_SCORES},  # exact_match stays a bool
    }
    for name, value in row.result.scores.items():
        record.setdefault(name, value)
    record["scorer_version"] = row.result.scorer_version
    record["evidence"] = dict(row.result.evidence)
    record["detections"] = detections_json(row.result.detections)
    return record


def csv_columns() -> list[str]:
    """The CSV header: path, truth, the texts, the reader that won, then every score."""
    from driftmon.signals import COMPOSITION_SCORES, READER_SCORES, TEXT_SCORES

    return ["path", "truth", "expected_text", "ocr_text", "reader",
            *TEXT_SCORES, *COMPOSITION_SCORES, *READER_SCORES]


def csv_values(row: Row) -> list[Any]:
    """One CSV row in `csv_columns` order (None as an empty cell, flags as 0/1)."""
    from driftmon.scoring.factory import FIRST_READER

    readers = row.result.evidence.get("readers") or {}
    fixed = [str(row.item.path), row.item.origin, row.result.text.expected_text, row.result.text.ocr_text,
             readers.get("winner", FIRST_READER)]
    scores = [row.result.scores.get(name) for name in csv_columns()[len(fixed):]]
    return [*fixed, *("" if value is None else _number(value) for value in scores)]


def _number(value: float) -> str:
    return f"{float(value):.6g}"


class RowWriter:
    """Writes rows to `out` as they come (json, csv) or at the end (table)."""

    def __init__(self, fmt: Format, out: TextIO, print_table: Callable[[Any], None]) -> None:
        self.fmt = fmt
        self.out = out
        self.print_table = print_table
        self.rows: list[Row] = []
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None

    def write(self, row: Row) -> None:
        if self.fmt == "json":
            self.out.write(json.dumps(json_record(row)) + "\n")
            self.out.flush()
        elif self._csv is not None:
            if not self.rows:
                self._csv.writerow(csv_columns())
            self._csv.writerow(csv_values(row))
            self.out.flush()
        self.rows.append(row)

    def close(self) -> None:
        if self.fmt == "table" and self.rows:
            self.print_table(table(self.rows))


def table(rows: Sequence[Row]) -> Any:
    """The rich table: image, expected, read, the catalogue's score columns."""
    from rich.table import Table

    from driftmon.signals import TABLE_COLUMNS, format_cell

    out = Table(title="driftmon score")
    for column in ("image", "expected", "read", *(s.column.header for s in TABLE_COLUMNS if s.column)):
        out.add_column(column, overflow="fold")
    for row in rows:
        text = row.result.text
        out.add_row(
            row.item.path.name,
            text.expected_text or "(none)",
            text.ocr_text or "(nothing)",
            *(format_cell(s, row.result.scores.get(s.name)) for s in TABLE_COLUMNS),
        )
    return out


def write_overlay(directory: Path, path: Path, image: Any, result: Any) -> None:
    """<name>.overlay.png: the image with its OCR boxes and the verdict."""
    from driftmon.scoring.overlay import render_overlay

    directory.mkdir(parents=True, exist_ok=True)
    render_overlay(image, result.detections, result.text).save(directory / f"{path.stem}.overlay.png")


def progress_wanted(stream: TextIO = sys.stderr) -> bool:
    """A progress bar only on a terminal (colours by the console's own NO_COLOR rule)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
