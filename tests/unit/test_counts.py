"""Object counts parsed from prompts: numerals as digits and words, groups, articles, negatives."""

from __future__ import annotations

import pytest

from driftmon.expectations import expected_counts, is_plural, parse_counts, singular

COUNTED = [
    ("three cats", {"cat": 3}),
    ("2 apples", {"apple": 2}),
    ("a pair of shoes", {"shoe": 2}),
    ("a dozen eggs", {"egg": 12}),
    ("half a dozen donuts", {"donut": 6}),
    ("two dozen roses", {"rose": 24}),
    ("an owl", {"owl": 1}),
    ("a photo of three cats", {"cat": 3}),
    ("A photo of two dogs and a cat on a sofa", {"dog": 2, "cat": 1, "sofa": 1}),
    ("three fluffy cats", {"fluffy cat": 3}),
    ("two traffic lights", {"traffic light": 2}),
    ("five mice", {"mouse": 5}),
    ("two sheep", {"sheep": 2}),
    ("three cookies and two cherries", {"cookie": 3, "cherry": 2}),
    ("two glasses and a bus", {"glass": 2, "bus": 1}),
    ("twenty-one pilots", {"pilot": 21}),
    ("10 candles on a cake", {"candle": 10, "cake": 1}),
    ("three cats sleep on a mat", {"cat": 3, "mat": 1}),
    ("a cat and a cat", {"cat": 2}),
    ("a man holding a sign", {"man": 1, "sign": 1}),
    ("a bearded man", {"bearded man": 1}),
    ("a red car parked outside", {"red car": 1}),
    ("a ring on two fingers", {"ring": 1, "finger": 2}),
    ("a three-story house", {"three-story house": 1}),
]

NOT_COUNTED = [
    ("a three story house", "house"),
    ("one of the cats", "cat"),
    ("a tower 2 meters tall", "meter"),
    ("a dog 5 years old", "year"),
    ("a few birds", "bird"),
    ("a lot of apples", "apple"),
    ("a couple of dogs", "dog"),
    ("0 cats", "cat"),
    ("a 3d render of a robot", "render"),
    ("the year 2024", "year"),
    ('a sign saying "THREE CATS"', "cat"),
    ("a poster reading 'two dogs'", "dog"),
]


@pytest.mark.parametrize(("prompt", "expected"), COUNTED)
def test_counts_parsed(prompt: str, expected: dict[str, int]) -> None:
    """Each prompt yields exactly the objects and counts it names."""
    assert parse_counts(prompt) == expected


@pytest.mark.parametrize(("prompt", "absent"), NOT_COUNTED)
def test_negatives_count_nothing_of_that_kind(prompt: str, absent: str) -> None:
    """Compound modifiers, measures, vague amounts and quoted text give no count of the noun."""
    counts = parse_counts(prompt)
    assert all(absent not in name.split() for name in counts), counts


def test_three_story_house_is_not_three_houses() -> None:
    """The issue's negative: 'a three-story house' expects one house, never three."""
    counts = parse_counts("a three-story house by the sea")
    assert sum(counts.values()) == 1
    assert 3 not in counts.values()


def test_articles_can_be_switched_off() -> None:
    """With articles off only numerals and groups count."""
    prompt = "an owl and three cats and a pair of shoes"
    assert parse_counts(prompt, articles=False) == {"cat": 3, "shoe": 2}


def test_no_prompt_no_counts() -> None:
    """None, empty and count-free prompts give an empty mapping."""
    assert parse_counts(None) == {}
    assert parse_counts("") == {}
    assert parse_counts("sunset over the sea") == {}


def test_expected_objects_override_the_prompt() -> None:
    """Explicit expected_objects win over the prompt, names lower-cased."""
    assert expected_counts("three cats", {"Dog": 2}) == {"dog": 2}
    assert expected_counts("three cats", {}) == {}
    assert expected_counts("three cats", None) == {"cat": 3}


@pytest.mark.parametrize(
    ("plural", "single"),
    [("cats", "cat"), ("boxes", "box"), ("cherries", "cherry"), ("knives", "knife"),
     ("people", "person"), ("buses", "bus"), ("shoes", "shoe"), ("tomatoes", "tomato")],
)
def test_singular(plural: str, single: str) -> None:
    """Plurals are singularised, and recognised as plural."""
    assert is_plural(plural)
    assert singular(plural) == single
    assert not is_plural(single)
