"""Text-fidelity metrics: definitions, reading order, and properties over arbitrary input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz.distance import Levenshtein

from driftmon.scoring.text import read_text, reading_order, score_text
from driftmon.scoring.types import Detection


def det(text: str, x: float, y: float, w: float = 100, h: float = 40, conf: float = 0.9) -> Detection:
    return Detection(((x, y), (x + w, y), (x + w, y + h), (x, y + h)), text, conf)


def test_reading_order_groups_lines_by_vertical_overlap() -> None:
    """Words of different heights on one line stay on that line, left to right."""
    detections = [
        det("WORLD", 300, 110, h=30),  # smaller, lower-starting word on line 1
        det("HELLO", 10, 100, h=60),
        det("SECOND", 10, 220),
        det("LINE", 200, 215),
    ]
    assert reading_order(detections) == [[1, 0], [2, 3]]
    assert read_text(detections) == "HELLO WORLD SECOND LINE"


def test_y_sort_alone_would_misorder() -> None:
    """A taller word starting higher on the right still reads after the left word."""
    detections = [det("LEFT", 10, 120, h=30), det("RIGHT", 200, 100, h=70)]
    assert read_text(detections) == "LEFT RIGHT"


def test_perfect_read() -> None:
    """Identical text scores 1 everywhere and hallucinates nothing."""
    scores = score_text(["OPEN 24 HOURS"], [det("open 24 hours", 0, 0)])
    assert scores.text_fidelity == 1.0
    assert (scores.word_precision, scores.word_recall, scores.word_f1) == (1.0, 1.0, 1.0)
    assert scores.exact_match is True
    assert scores.hallucination == 0.0


def test_case_sensitive_option() -> None:
    """With case kept, a case difference costs fidelity."""
    folded = score_text(["OPEN"], [det("open", 0, 0)])
    kept = score_text(["OPEN"], [det("open", 0, 0)], case_sensitive=True)
    assert folded.text_fidelity == 1.0
    assert kept.text_fidelity == 0.0


def test_fidelity_is_levenshtein_similarity() -> None:
    """Fidelity equals 1 − distance / max length on the normalised strings."""
    scores = score_text(["OPEN 24 HOURS"], [det("OPFN 24 HOUPS", 0, 0)])
    assert scores.text_fidelity == pytest.approx(1 - 2 / 13)
    assert scores.word_recall == pytest.approx(1 / 3)
    assert scores.hallucination == 0.0  # misspelt words resemble expected ones


def test_unexpected_words_are_hallucination() -> None:
    """Read words that resemble no expected word count as hallucinated characters."""
    scores = score_text(["OPEN"], [det("OPEN", 0, 0), det("ZZZZZZZZ", 200, 0)])
    assert scores.hallucination == pytest.approx(8 / 12)
    assert scores.word_precision == 0.5


def test_no_text_expected_none_read() -> None:
    """No text expected and none read: fidelity is null, not 1."""
    scores = score_text([], [])
    assert scores.text_fidelity is None
    assert scores.exact_match is None
    assert scores.hallucination == 0.0


def test_no_text_expected_some_read() -> None:
    """Text where none was asked for counts fully as hallucination."""
    scores = score_text([], [det("STOP", 0, 0)])
    assert scores.text_fidelity is None
    assert scores.hallucination == 1.0


def test_text_expected_none_read() -> None:
    """Text expected and nothing read: fidelity 0, recall 0, not an exact match."""
    scores = score_text(["OPEN"], [])
    assert scores.text_fidelity == 0.0
    assert scores.word_recall == 0.0
    assert scores.exact_match is False
    assert scores.missing_words == ("open",)


def test_exact_match_ignores_order_and_punctuation() -> None:
    """Exact match compares bags of words with surrounding punctuation stripped."""
    scores = score_text(["HELLO, WORLD!"], [det("world", 200, 0), det("hello", 0, 0)])
    assert scores.exact_match is True


def test_evidence_carries_confidence_and_height() -> None:
    """Each read word carries its detection's confidence and box height."""
    scores = score_text(["OPEN"], [det("OPEN", 0, 0, h=33, conf=0.42)])
    (word,) = scores.words
    assert (word.word, word.matched, word.confidence, word.box_height_px) == ("open", True, 0.42, 33)


texts = st.text(alphabet=st.sampled_from("abcdeXYZ 019'!"), max_size=30)


@given(expected=texts, read=texts)
def test_scores_are_bounded(expected: str, read: str) -> None:
    """Every score lies in [0, 1] (or is None) for any pair of strings."""
    scores = score_text([expected], [det(read, 0, 0)] if read else [])
    for value in (
        scores.text_fidelity,
        scores.word_precision,
        scores.word_recall,
        scores.word_f1,
        scores.hallucination,
    ):
        assert value is None or 0.0 <= value <= 1.0


@given(text=texts.filter(lambda t: t.strip()))
def test_identity(text: str) -> None:
    """Reading exactly the expected text gives fidelity 1 and an exact match."""
    scores = score_text([text], [det(text, 0, 0)])
    assert scores.text_fidelity == 1.0
    assert scores.exact_match is True
    assert scores.hallucination == 0.0


@given(expected=texts.filter(lambda t: t.strip()), read=texts)
def test_fidelity_matches_reference_definition(expected: str, read: str) -> None:
    """Fidelity equals the reference formula on whitespace-collapsed, case-folded strings."""
    a = " ".join(expected.split()).casefold()
    b = " ".join(read.split()).casefold()
    reference = 1 - Levenshtein.distance(a, b) / max(len(a), len(b), 1)
    scores = score_text([expected], [det(read, 0, 0)] if read.strip() else [])
    assert scores.text_fidelity == pytest.approx(reference)
