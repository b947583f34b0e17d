"""Expected text from prompts: quote conventions and overrides."""

from __future__ import annotations

import pytest

from driftmon.expectations import expected_lines

CASES = [
    ('a sign that says "OPEN 24 HOURS"', ("OPEN 24 HOURS",)),
    ("a baker's sign that says 'OPEN'", ("OPEN",)),
    ("a sign reading “Café Noir” at dusk", ("Café Noir",)),
    ("a neon sign ‘JOE’S DINER’ in the rain", ("JOE’S DINER",)),
    ("a poster 'JOE'S DINER' on a wall", ("JOE'S DINER",)),
    ('two signs: "NO PARKING" and "EXIT"', ("NO PARKING", "EXIT")),
    ("a sign \"WELCOME\" and a banner 'SALE'", ("WELCOME", "SALE")),
    ("the '90s poster saying 'ROCK ON'", ("ROCK ON",)),
    ("dogs' toys on the floor", ()),
    ("a photo of a cat", ()),
    ('a sign "  MANY   SPACES  "', ("MANY SPACES",)),
    ('an empty sign ""', ()),
    ("a sign reading \"Joe's 'Best' Pizza\"", ("Joe's 'Best' Pizza",)),
    ("a book titled «LE PETIT PRINCE»", ("LE PETIT PRINCE",)),
    ('an unmatched "quote', ()),
]


@pytest.mark.parametrize(("prompt", "expected"), CASES)
def test_expected_lines_from_prompt(prompt: str, expected: tuple[str, ...]) -> None:
    """Quoted spans become expected lines; apostrophes never open or close a span."""
    assert expected_lines(prompt) == expected


def test_explicit_expected_text_overrides_prompt() -> None:
    """An explicit expected_text wins over the prompt's quotes, split on newlines."""
    assert expected_lines('a sign "OPEN"', "CLOSED\nBACK  SOON") == ("CLOSED", "BACK SOON")


def test_explicit_empty_expected_text_means_none() -> None:
    """An explicit empty expected_text means no text is expected, whatever the prompt says."""
    assert expected_lines('a sign "OPEN"', "") == ()


def test_no_prompt_no_text() -> None:
    """Without a prompt or expected text nothing is expected."""
    assert expected_lines(None) == ()
