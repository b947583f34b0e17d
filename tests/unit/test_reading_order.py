"""Reading order under tilt and in columns, and a score robust to block order, not word order."""

from __future__ import annotations

import math

import pytest

from driftmon.scoring.text import (
    _deskewed,
    _group_lines,
    order_like_expected,
    read_text,
    reading_order,
    score_text,
    text_angle,
    text_blocks,
)
from driftmon.scoring.types import Detection

CENTRE = (256.0, 256.0)


def box(text: str, x: float, y: float, w: float, h: float, angle: float = 0.0) -> Detection:
    """A w×h box at (x, y), rotated `angle` degrees (clockwise on screen) about the image centre."""
    theta = math.radians(angle)
    cx, cy = CENTRE

    def turn(px: float, py: float) -> tuple[float, float]:
        dx, dy = px - cx, py - cy
        return (
            cx + dx * math.cos(theta) - dy * math.sin(theta),
            cy + dx * math.sin(theta) + dy * math.cos(theta),
        )

    corners = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
    p0, p1, p2, p3 = (turn(px, py) for px, py in corners)
    return Detection((p0, p1, p2, p3), text, 0.9)


def summer_festival(angle: float) -> list[Detection]:
    return [
        box("SUMMER", 40, 200, 220, 56, angle),
        box("FESTIVAL", 280, 200, 250, 56, angle),
        box("2024", 300, 264, 120, 56, angle),
    ]


@pytest.mark.parametrize("angle", [-12.0, -8.0, 8.0, 12.0])
def test_tilted_two_lines_read_in_order(angle: float) -> None:
    """SUMMER FESTIVAL / 2024 tilted 8–12°: deskewed before grouping, so not FESTIVAL SUMMER 2024."""
    detections = summer_festival(angle)
    assert text_angle(detections) == pytest.approx(angle)
    assert reading_order(detections) == [[0, 1], [2]]
    scores = score_text(["SUMMER FESTIVAL", "2024"], detections)
    assert scores.text_fidelity == 1.0
    assert scores.ocr_text == "SUMMER FESTIVAL 2024"


def test_tilt_would_merge_lines_without_deskewing() -> None:
    """Grouped on the tilted boxes' upright extents, the two lines merge: the case deskewing fixes."""
    detections = summer_festival(-8.0)
    assert _group_lines(_deskewed(detections, 0.0)) == [[0, 1, 2]]
    assert _group_lines(_deskewed(detections, text_angle(detections))) == [[0, 1], [2]]


def test_upright_boxes_have_angle_zero() -> None:
    """Axis-aligned boxes (EasyOCR's horizontal list) keep today's grouping."""
    detections = summer_festival(0.0)
    assert text_angle(detections) == 0.0
    assert read_text(detections) == "SUMMER FESTIVAL 2024"


def two_columns() -> list[Detection]:
    return [
        box("Fresh", 40, 100, 150, 50),
        box("Hot", 330, 100, 100, 50),
        box("Bread", 40, 160, 160, 50),
        box("Soup", 330, 160, 130, 50),
    ]


def test_two_columns_are_two_blocks() -> None:
    """A wide gap in x with rows on both sides splits the layout into columns, read one by one."""
    assert text_blocks(two_columns()) == [[[0], [2]], [[1], [3]]]


def test_two_columns_score_block_by_block() -> None:
    """`Fresh Bread | Hot Soup` is not read as `Fresh Hot Bread Soup`."""
    scores = score_text(["Fresh Bread", "Hot Soup"], two_columns())
    assert scores.text_fidelity == 1.0
    assert scores.reading == "blocks"
    assert scores.ocr_text == "Fresh Bread Hot Soup"


def test_table_rows_still_read_row_by_row() -> None:
    """A two-column table whose expected lines are its rows scores by the row reading."""
    detections = [
        box("Coffee", 40, 100, 170, 50),
        box("$3", 380, 100, 60, 50),
        box("Tea", 40, 160, 90, 50),
        box("$2", 380, 160, 60, 50),
    ]
    scores = score_text(["Coffee $3", "Tea $2"], detections)
    assert scores.text_fidelity == 1.0
    assert scores.reading == "rows"


def test_title_over_columns_is_its_own_block() -> None:
    """A title spanning both columns does not join either column."""
    detections = [box("MENU", 150, 30, 200, 50), *two_columns()]
    assert text_blocks(detections) == [[[0]], [[1], [3]], [[2], [4]]]
    assert score_text(["MENU", "Fresh Bread", "Hot Soup"], detections).text_fidelity == 1.0


def test_lines_in_another_order_are_not_an_error() -> None:
    """Expected lines drawn in a different order: matched to their lines, fidelity 1."""
    detections = [box("2024", 200, 100, 120, 50), box("SUMMER FESTIVAL", 60, 170, 400, 50)]
    assert score_text(["SUMMER FESTIVAL", "2024"], detections).text_fidelity == 1.0


def test_swapped_words_inside_a_line_still_cost() -> None:
    """Word order inside a line is never reordered: FESTIVAL SUMMER is penalised."""
    detections = [box("FESTIVAL SUMMER", 60, 100, 400, 50), box("2024", 200, 170, 120, 50)]
    swapped = score_text(["SUMMER FESTIVAL", "2024"], detections)
    assert swapped.text_fidelity is not None and swapped.text_fidelity < 0.85
    single = score_text(
        ["SUMMER FESTIVAL"], [box("FESTIVAL", 60, 100, 200, 50), box("SUMMER", 300, 100, 200, 50)]
    )
    assert single.text_fidelity is not None and single.text_fidelity < 0.85


def test_swapped_words_in_separate_boxes_of_one_line_still_cost() -> None:
    """Two boxes of one line swapped are one unit per line: still an error with several lines."""
    detections = [
        box("FESTIVAL", 60, 100, 200, 50),
        box("SUMMER", 280, 100, 200, 50),
        box("2024", 200, 170, 120, 50),
    ]
    scores = score_text(["SUMMER FESTIVAL", "2024"], detections)
    assert scores.text_fidelity is not None and scores.text_fidelity < 0.85


def test_a_wrong_word_is_not_hidden_by_reordering() -> None:
    """Reordering never improves a misspelt line beyond its own distance."""
    detections = [box("2024", 200, 100, 120, 50), box("SUMMER FESTIVEL", 60, 170, 400, 50)]
    assert score_text(["SUMMER FESTIVAL", "2024"], detections).text_fidelity == pytest.approx(1 - 1 / 20)


def test_unpaired_units_stay_after_the_unit_they_follow() -> None:
    """One expected line drawn as two read lines keeps the two together, in reading order."""
    order = order_like_expected(["2024", "SUMMER", "FESTIVAL"], ["summer festival", "2024"])
    assert order == [1, 2, 0]
