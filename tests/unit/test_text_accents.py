"""Accent folding: a reader without accented letters can still score `Café` 1, and says so."""

from __future__ import annotations

import pytest

from driftmon.scoring.text import needs_folding, score_text, strip_accents
from driftmon.scoring.types import Detection

ENGLISH = frozenset("0123456789 abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!%&'.,-")


def det(text: str) -> Detection:
    return Detection(((0, 0), (100, 0), (100, 40), (0, 40)), text, 0.9)


def test_strip_accents_is_nfkd_without_combining_marks() -> None:
    """Letters lose their accents; ligatures decompose; other characters stay."""
    assert strip_accents("Café Ôlé naïve ﬁ ß") == "Cafe Ole naive fi ß"


@pytest.mark.parametrize(
    ("mode", "charset", "expected"),
    [
        ("auto", ENGLISH, True),
        ("auto", ENGLISH | {"é"}, False),
        ("auto", None, False),
        ("always", ENGLISH | {"é"}, True),
        ("never", ENGLISH, False),
    ],
)
def test_when_to_fold(mode: str, charset: frozenset[str] | None, expected: bool) -> None:
    """auto folds only when the reader's character set lacks a character of the expected text."""
    assert needs_folding("Café Olé", charset, mode) is expected  # type: ignore[arg-type]


def test_auto_folds_for_a_reader_without_accents() -> None:
    """EasyOCR's English model reads `Cafe`: fidelity 1, and the evidence says it was folded."""
    scores = score_text(["Café"], [det("Cafe")], charset=ENGLISH)
    assert scores.text_fidelity == 1.0
    assert scores.exact_match is True
    assert scores.accents_folded is True


def test_never_folds_keeps_the_accent_error() -> None:
    """With folding off the missing accent costs one character."""
    scores = score_text(["Café"], [det("Cafe")], charset=ENGLISH, fold_accents="never")
    assert scores.text_fidelity == pytest.approx(0.75)
    assert scores.accents_folded is False


def test_reader_with_accents_is_held_to_them() -> None:
    """A reader that knows `é` and reads `Cafe` reports a real accent error under auto."""
    scores = score_text(["Café"], [det("Cafe")], charset=ENGLISH | {"é"})
    assert scores.text_fidelity == pytest.approx(0.75)
    assert scores.accents_folded is False


def test_folding_does_not_hide_a_wrong_letter() -> None:
    """Folded text still counts a wrong letter."""
    scores = score_text(["Café"], [det("Cafa")], fold_accents="always")
    assert scores.text_fidelity == pytest.approx(0.75)
