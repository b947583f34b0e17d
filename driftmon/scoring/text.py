"""Text-fidelity metrics (pure): expected lines + OCR detections → scores and evidence.

Definitions (README, "Scores"):

* reading order: box geometry is first deskewed by the dominant text angle (the median angle of
  the boxes' top and bottom edges); boxes are grouped into lines by vertical overlap, lines top
  to bottom, boxes left to right. Lines are split at wide gaps in x (``COLUMN_GAP`` text
  heights) and the pieces stacked under one another form blocks (columns), read block by block.
* read text: detections in reading order, joined by spaces, whitespace collapsed.
* text_fidelity = 1 − Levenshtein(expected, read) / max(len(expected), len(read)), on the two
  strings case-folded unless ``case_sensitive`` (AnyText's NED similarity, pbevan1's score).
  With several expected lines, the read units (lines, or blocks in block reading) are put in the
  order of the expected lines they match (an assignment maximising edit similarity; unmatched
  units stay after the unit they follow) before the distance, so a layout read in a different
  line or block order costs nothing while words swapped inside a line still do. Fidelity is the
  better of row-by-row and block-by-block reading.
* accent folding: with ``fold_accents="always"``, or ``"auto"`` when the reader's character set
  lacks a character of the expected text, both texts are compared accent-folded (NFKD without
  combining marks); ``accents_folded`` says so.
* words: whitespace tokens with surrounding punctuation stripped, case-folded likewise.
  word_precision / word_recall / word_f1 on multisets (TextDiffuser MARIO-Eval);
  exact_match = the two multisets are equal.
* hallucination = characters of read words that resemble no expected word (similarity < 0.5)
  / all read characters; 1.0 when text is read and none was expected, 0.0 when nothing is read.
* When no text is expected, every score but hallucination is None; when text is expected and
  nothing is read, text_fidelity, recall, precision, f1 are 0 and exact_match is False.
"""

from __future__ import annotations

import itertools
import math
import statistics
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rapidfuzz.distance import Levenshtein
from scipy.optimize import linear_sum_assignment

from driftmon.scoring.types import Detection

#: a read word is attributed to the expected text when at least this similar to one of its words
NEAR_MATCH_SIMILARITY = 0.5
#: two boxes share a line when their vertical overlap is at least this share of the smaller height
LINE_OVERLAP = 0.5
#: a gap in x of at least this many text heights separates two blocks (columns) of one line
COLUMN_GAP = 1.5
#: consecutive line pieces belong to one block when the gap between them is at most this many heights
BLOCK_LINE_GAP = 1.2
#: boxes tilted more than this (degrees) are taken for vertical text and ignored by the angle estimate
MAX_TEXT_ANGLE = 45.0

_PUNCTUATION = string.punctuation + "“”‘’«»…–—"

FoldAccents = Literal["auto", "always", "never"]
Reading = Literal["rows", "blocks"]


@dataclass(frozen=True, slots=True)
class WordEvidence:
    """One read word: whether it matched an expected word, and how it was seen."""

    word: str
    matched: bool
    near_match: str | None
    confidence: float
    box_height_px: float
    detection_index: int


@dataclass(frozen=True, slots=True)
class TextScores:
    """Text scores of one image; see the module docstring for the definitions."""

    expected_text: str
    ocr_text: str
    text_fidelity: float | None
    word_precision: float | None
    word_recall: float | None
    word_f1: float | None
    exact_match: bool | None
    hallucination: float
    words: tuple[WordEvidence, ...]
    missing_words: tuple[str, ...]
    accents_folded: bool = False
    reading: Reading = "rows"


@dataclass(frozen=True, slots=True)
class _Extent:
    """A box's extent in deskewed coordinates."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def height(self) -> float:
        return self.bottom - self.top


# -- geometry ---------------------------------------------------------------------------------


def _box_angle(det: Detection) -> float | None:
    """Mean angle (degrees) of a box's top and bottom edges; None for tall (vertical) boxes."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = det.box
    top = math.degrees(math.atan2(y1 - y0, x1 - x0))
    bottom = math.degrees(math.atan2(y2 - y3, x2 - x3))
    angle = (top + bottom) / 2
    return angle if abs(angle) <= MAX_TEXT_ANGLE else None


def text_angle(detections: Sequence[Detection]) -> float:
    """The dominant text angle in degrees (clockwise in image coordinates), 0 without boxes."""
    angles = [a for a in map(_box_angle, detections) if a is not None]
    return float(statistics.median(angles)) if angles else 0.0


def _deskewed(detections: Sequence[Detection], angle: float) -> list[_Extent]:
    """Each box's extent after rotating the image by −`angle` degrees."""
    if not detections:
        return []
    theta = math.radians(-angle)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    extents = []
    for det in detections:
        points = np.asarray(det.box, dtype=float) @ rotation.T
        (left, top), (right, bottom) = points.min(axis=0), points.max(axis=0)
        extents.append(_Extent(float(left), float(top), float(right), float(bottom)))
    return extents


def _group_lines(extents: Sequence[_Extent]) -> list[list[int]]:
    """Indices grouped into lines by vertical overlap: lines top to bottom, boxes left to right."""
    lines: list[tuple[float, float, list[int]]] = []
    for index in sorted(range(len(extents)), key=lambda i: extents[i].top):
        ext = extents[index]
        for pos, (top, bottom, members) in enumerate(lines):
            overlap = min(bottom, ext.bottom) - max(top, ext.top)
            smaller = max(min(bottom - top, ext.height), 1e-6)
            if overlap / smaller >= LINE_OVERLAP:
                members.append(index)
                lines[pos] = (min(top, ext.top), max(bottom, ext.bottom), members)
                break
        else:
            lines.append((ext.top, ext.bottom, [index]))
    lines.sort(key=lambda line: line[0])
    return [sorted(members, key=lambda i: extents[i].left) for _, _, members in lines]


def reading_order(detections: Sequence[Detection]) -> list[list[int]]:
    """Group detection indices into lines (top to bottom), each left to right, after deskewing."""
    return _group_lines(_deskewed(detections, text_angle(detections)))


# -- blocks -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    """Part of one line between two wide gaps."""

    row: int
    members: tuple[int, ...]
    extent: _Extent


def _span(members: Sequence[int], extents: Sequence[_Extent]) -> _Extent:
    boxes = [extents[i] for i in members]
    return _Extent(
        min(b.left for b in boxes),
        min(b.top for b in boxes),
        max(b.right for b in boxes),
        max(b.bottom for b in boxes),
    )


def _pieces(row: int, line: Sequence[int], extents: Sequence[_Extent]) -> list[_Piece]:
    """Split one line wherever the gap between neighbouring boxes is COLUMN_GAP heights or more."""
    height = statistics.median(extents[i].height for i in line)
    runs: list[list[int]] = [[line[0]]]
    for prev, index in itertools.pairwise(line):
        if extents[index].left - extents[prev].right >= COLUMN_GAP * height:
            runs.append([])
        runs[-1].append(index)
    return [_Piece(row, tuple(run), _span(run, extents)) for run in runs]


def _overlaps_x(a: _Extent, b: _Extent) -> bool:
    return min(a.right, b.right) > max(a.left, b.left)


def _continues(above: _Piece, below: _Piece, rows: Sequence[Sequence[_Piece]]) -> bool:
    """`below` continues `above`'s block: next row, close, and each the other's only x-overlap."""
    if below.row != above.row + 1 or not _overlaps_x(above.extent, below.extent):
        return False
    height = max(above.extent.height, below.extent.height)
    if below.extent.top - above.extent.bottom > BLOCK_LINE_GAP * height:
        return False
    under = [p for p in rows[below.row] if _overlaps_x(above.extent, p.extent)]
    over = [p for p in rows[above.row] if _overlaps_x(p.extent, below.extent)]
    return len(under) == 1 and len(over) == 1


def text_blocks(detections: Sequence[Detection]) -> list[list[list[int]]]:
    """Blocks (columns) of lines of detection indices, in reading order: top, then left."""
    extents = _deskewed(detections, text_angle(detections))
    rows = [_pieces(row, line, extents) for row, line in enumerate(_group_lines(extents))]
    blocks: list[list[_Piece]] = []
    for row in rows:
        for piece in row:
            owner = next(
                (b for b in blocks if _continues(b[-1], piece, rows)),
                None,
            )
            if owner is None:
                blocks.append([piece])
            else:
                owner.append(piece)
    blocks.sort(key=lambda b: (b[0].row, b[0].extent.left))
    return [[list(piece.members) for piece in block] for block in blocks]


def read_text(detections: Sequence[Detection]) -> str:
    """The detections' text in reading order (lines top to bottom), whitespace collapsed."""
    ordered = (detections[i].text for line in reading_order(detections) for i in line)
    return " ".join(" ".join(ordered).split())


# -- text -------------------------------------------------------------------------------------


def normalise(text: str, case_sensitive: bool = False) -> str:
    """Collapse whitespace and, unless `case_sensitive`, case-fold."""
    collapsed = " ".join(text.split())
    return collapsed if case_sensitive else collapsed.casefold()


def strip_accents(text: str) -> str:
    """`text` without accents: NFKD, combining marks dropped (Café → Cafe)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def needs_folding(expected: str, charset: Collection[str] | None, mode: FoldAccents) -> bool:
    """Whether to compare accent-folded text: always, never, or (auto) when the reader lacks a
    character of the expected text."""
    if mode != "auto":
        return mode == "always"
    if charset is None:
        return False
    return any(c not in charset for c in expected if not c.isspace())


def words_of(text: str, case_sensitive: bool = False) -> list[str]:
    """Whitespace tokens with surrounding punctuation stripped; empty tokens dropped."""
    tokens = (token.strip(_PUNCTUATION) for token in normalise(text, case_sensitive).split())
    return [token for token in tokens if token]


def similarity(a: str, b: str) -> float:
    """1 − Levenshtein(a, b) / max(len); 1.0 for two empty strings."""
    return float(Levenshtein.normalized_similarity(a, b))


def order_like_expected(units: Sequence[str], expected: Sequence[str]) -> list[int]:
    """Indices of `units` (read lines or blocks) in the order of the expected lines they match.

    Units and expected lines are paired by an assignment maximising edit similarity; a unit left
    unpaired stays right after the unit it follows in reading order (or before the first paired
    one). Units keep their reading order within one expected line; nothing inside a unit moves.
    """
    if len(units) < 2 or len(expected) < 2:
        return list(range(len(units)))
    cost = np.array([[1.0 - similarity(u, e) for e in expected] for u in units])
    rows, cols = linear_sum_assignment(cost)
    line_of: dict[int, int] = dict(zip(rows.tolist(), cols.tolist(), strict=True))
    group = line_of[min(line_of)]
    keys = []
    for index in range(len(units)):
        group = line_of.get(index, group)
        keys.append(group)
    return sorted(range(len(units)), key=lambda i: (keys[i], i))


def _readings(detections: Sequence[Detection]) -> list[tuple[Reading, list[str]]]:
    """Candidate readings: row by row (units are lines) and, with several blocks, block by block."""

    def text_of(indices: Iterable[int]) -> str:
        return " ".join(" ".join(detections[i].text for i in indices).split())

    rows = [text_of(line) for line in reading_order(detections)]
    blocks = text_blocks(detections)
    readings: list[tuple[Reading, list[str]]] = [("rows", rows)]
    if len(blocks) > 1:
        readings.append(("blocks", [text_of(i for line in block for i in line) for block in blocks]))
    return readings


def _best_reading(
    expected: Sequence[str], detections: Sequence[Detection], prepare: Callable[[str], str]
) -> tuple[Reading, str, float]:
    """The reading (name, text as read, fidelity) whose text, ordered like the expected lines, is
    most similar to them."""
    expected_lines = [prepare(line) for line in expected]
    target = prepare(" ".join(expected))
    best: tuple[Reading, str, float] | None = None
    for name, units in _readings(detections):
        order = order_like_expected([prepare(unit) for unit in units], expected_lines)
        text = " ".join(units[i] for i in order)
        score = similarity(target, prepare(text))
        if best is None or score > best[2]:
            best = (name, text, score)
    assert best is not None
    return best


def _read_words(detections: Sequence[Detection], prepare: Callable[[str], str]) -> list[tuple[str, int]]:
    return [
        (word, index)
        for line in reading_order(detections)
        for index in line
        for word in words_of(prepare(detections[index].text), case_sensitive=True)
    ]


def _evidence(
    read: list[tuple[str, int]], expected: list[str], detections: Sequence[Detection]
) -> tuple[list[WordEvidence], Counter[str]]:
    unmatched = Counter(expected)
    evidence = []
    for word, index in read:
        matched = unmatched[word] > 0
        if matched:
            unmatched[word] -= 1
        near = _nearest(word, expected)
        det = detections[index]
        evidence.append(WordEvidence(word, matched, near, det.confidence, det.height, index))
    return evidence, unmatched


def _nearest(word: str, expected: Iterable[str]) -> str | None:
    best = max(expected, key=lambda candidate: similarity(word, candidate), default=None)
    if best is None or similarity(word, best) < NEAR_MATCH_SIMILARITY:
        return None
    return best


def _hallucination(evidence: Sequence[WordEvidence]) -> float:
    total = sum(len(e.word) for e in evidence)
    if total == 0:
        return 0.0
    return sum(len(e.word) for e in evidence if e.near_match is None) / total


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def score_text(
    expected: Sequence[str],
    detections: Sequence[Detection],
    case_sensitive: bool = False,
    *,
    fold_accents: FoldAccents = "auto",
    charset: Collection[str] | None = None,
) -> TextScores:
    """Score `detections` against the `expected` lines.

    `charset` is the reader's character set (None: unknown); with `fold_accents_mode` it decides
    whether both texts are compared accent-folded (`fold_accents`, module docstring).
    """
    expected_text = " ".join(expected)
    folded = needs_folding(expected_text, charset, fold_accents)

    def prepare(text: str) -> str:
        text = normalise(text, case_sensitive)
        return strip_accents(text) if folded else text

    expected_words = words_of(prepare(expected_text), case_sensitive=True)
    read = _read_words(detections, prepare)
    evidence, unmatched = _evidence(read, expected_words, detections)
    missing = tuple(word for word, count in unmatched.items() for _ in range(count))
    hallucination = _hallucination(evidence)
    if not expected_words and not normalise(expected_text):
        ocr_text = read_text(detections)
        return TextScores(
            expected_text, ocr_text, None, None, None, None, None, hallucination, tuple(evidence), ()
        )
    reading, ocr_text, fidelity = _best_reading(expected, detections, prepare)
    hits = sum(1 for e in evidence if e.matched)
    precision = hits / len(read) if read else 0.0
    recall = hits / len(expected_words) if expected_words else 0.0
    exact = Counter(w for w, _ in read) == Counter(expected_words)
    return TextScores(
        expected_text,
        ocr_text,
        fidelity,
        precision,
        recall,
        _f1(precision, recall),
        exact,
        hallucination,
        tuple(evidence),
        missing,
        accents_folded=folded,
        reading=reading,
    )
