"""Text-fidelity metrics (pure): expected lines + OCR detections → scores and evidence.

Definitions (README, "Scores"):

* read text: detections in reading order (boxes grouped into lines by vertical overlap, lines
  top to bottom, boxes left to right), joined by spaces, whitespace collapsed.
* text_fidelity = 1 − Levenshtein(expected, read) / max(len(expected), len(read)), on the two
  strings case-folded unless ``case_sensitive`` (AnyText's NED similarity, pbevan1's score).
* words: whitespace tokens with surrounding punctuation stripped, case-folded likewise.
  word_precision / word_recall / word_f1 on multisets (TextDiffuser MARIO-Eval);
  exact_match = the two multisets are equal.
* hallucination = characters of read words that resemble no expected word (similarity < 0.5)
  / all read characters; 1.0 when text is read and none was expected, 0.0 when nothing is read.
* When no text is expected, every score but hallucination is None; when text is expected and
  nothing is read, text_fidelity, recall, precision, f1 are 0 and exact_match is False.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from driftmon.scoring.types import Detection

#: a read word is attributed to the expected text when at least this similar to one of its words
NEAR_MATCH_SIMILARITY = 0.5
#: two boxes share a line when their vertical overlap is at least this share of the smaller height
LINE_OVERLAP = 0.5

_PUNCTUATION = string.punctuation + "“”‘’«»…–—"


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


def reading_order(detections: Sequence[Detection]) -> list[list[int]]:
    """Group detection indices into lines (top to bottom), each left to right."""
    lines: list[tuple[float, float, list[int]]] = []
    for index in sorted(range(len(detections)), key=lambda i: detections[i].top):
        det = detections[index]
        for pos, (top, bottom, members) in enumerate(lines):
            overlap = min(bottom, det.bottom) - max(top, det.top)
            smaller = max(min(bottom - top, det.height), 1e-6)
            if overlap / smaller >= LINE_OVERLAP:
                members.append(index)
                lines[pos] = (min(top, det.top), max(bottom, det.bottom), members)
                break
        else:
            lines.append((det.top, det.bottom, [index]))
    lines.sort(key=lambda line: line[0])
    return [sorted(members, key=lambda i: detections[i].left) for _, _, members in lines]


def read_text(detections: Sequence[Detection]) -> str:
    """The detections' text in reading order, whitespace collapsed."""
    ordered = (detections[i].text for line in reading_order(detections) for i in line)
    return " ".join(" ".join(ordered).split())


def normalise(text: str, case_sensitive: bool = False) -> str:
    """Collapse whitespace and, unless `case_sensitive`, case-fold."""
    collapsed = " ".join(text.split())
    return collapsed if case_sensitive else collapsed.casefold()


def words_of(text: str, case_sensitive: bool = False) -> list[str]:
    """Whitespace tokens with surrounding punctuation stripped; empty tokens dropped."""
    tokens = (token.strip(_PUNCTUATION) for token in normalise(text, case_sensitive).split())
    return [token for token in tokens if token]


def similarity(a: str, b: str) -> float:
    """1 − Levenshtein(a, b) / max(len); 1.0 for two empty strings."""
    return float(Levenshtein.normalized_similarity(a, b))


def _read_words(detections: Sequence[Detection], case_sensitive: bool) -> list[tuple[str, int]]:
    return [
        (word, index)
        for line in reading_order(detections)
        for index in line
        for word in words_of(detections[index].text, case_sensitive)
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
    expected: Sequence[str], detections: Sequence[Detection], case_sensitive: bool = False
) -> TextScores:
    """Score `detections` against the `expected` lines."""
    expected_text = " ".join(expected)
    ocr_text = read_text(detections)
    expected_words = words_of(expected_text, case_sensitive)
    read = _read_words(detections, case_sensitive)
    evidence, unmatched = _evidence(read, expected_words, detections)
    missing = tuple(word for word, count in unmatched.items() for _ in range(count))
    hallucination = _hallucination(evidence)
    if not expected_words and not normalise(expected_text):
        return TextScores(
            expected_text,
            ocr_text,
            None,
            None,
            None,
            None,
            None,
            hallucination,
            tuple(evidence),
            (),
        )
    fidelity = similarity(normalise(expected_text, case_sensitive), normalise(ocr_text, case_sensitive))
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
    )
