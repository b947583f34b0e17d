"""Margins, legibility, blank and sharpness on images rendered with known geometry and colours."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from driftmon.scoring.checks.legibility import (
    LegibilityThresholds,
    check_legibility,
    contrast_ratio,
    relative_luminance,
    text_contrast,
)
from driftmon.scoring.checks.margins import check_margins, inside_ratio, safe_area, touches_border
from driftmon.scoring.checks.sanity import check_sanity, percentile_u8
from driftmon.scoring.text import score_text
from driftmon.scoring.types import Detection

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
SIZE = 512
WHITE, BLACK = (255, 255, 255), (0, 0, 0)

pytestmark = pytest.mark.skipif(not FONT.is_file(), reason="DejaVu fonts not installed")


def render(
    words: list[tuple[str, tuple[int, int], int]],
    fg: tuple[int, int, int] = BLACK,
    bg: tuple[int, int, int] = WHITE,
    size: int = SIZE,
) -> tuple[np.ndarray, list[Detection]]:
    """An RGB image with each (text, (x, y), font px) drawn, and a Detection per word whose box
    is the drawn text's bounds clipped to the image (what an OCR engine would report)."""
    image = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(image)
    detections = []
    for text, (x, y), px in words:
        font = ImageFont.truetype(str(FONT), px)
        draw.text((x, y), text, font=font, fill=fg)
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        left, top = max(left, 0), max(top, 0)
        right, bottom = min(right, size), min(bottom, size)
        box = ((left, top), (right, top), (right, bottom), (left, bottom))
        detections.append(Detection(box, text, 0.95))
    return np.asarray(image).copy(), detections


def margins_of(image: np.ndarray, detections: list[Detection], expected: str, share: float = 0.05):
    """check_margins over the detections that hold expected words, as the scorer selects them."""
    scores = score_text([expected], detections)
    boxes = [
        (detections[w.detection_index].text, _box(detections[w.detection_index]))
        for w in scores.words
        if w.matched or w.near_match
    ]
    return check_margins(boxes, [], image.shape[1], image.shape[0], share)


def _box(det: Detection) -> tuple[float, float, float, float]:
    return (det.left, det.top, det.right, det.bottom)


def legibility_of(image: np.ndarray, detections: list[Detection], expected: str, **limits: float):
    """check_legibility with default thresholds unless overridden."""
    return check_legibility(
        image, detections, score_text([expected], detections), LegibilityThresholds(**limits)
    )


# ------------------------------------------------------------------------------- margins


def test_text_inside_safe_area_passes() -> None:
    """Centred text: no violation, the whole box inside the safe area."""
    image, dets = render([("HELLO", (150, 230), 48)])
    result = margins_of(image, dets, "HELLO")
    assert result.violation is False
    assert result.safe_area_ratio == 1.0
    assert result.outside == ()


def test_text_cut_by_the_border_is_clipped() -> None:
    """Text running off the right edge is clipped: a violation, flagged clipped."""
    image, dets = render([("HELLO", (SIZE - 90, 230), 48)])
    assert dets[0].right == SIZE  # the drawing really crosses the border
    result = margins_of(image, dets, "HELLO")
    assert result.violation is True
    assert result.outside[0].clipped
    assert result.safe_area_ratio is not None and result.safe_area_ratio < 1.0


def test_clipped_text_is_a_violation_even_without_margin() -> None:
    """With a zero safe margin clipped text still violates; text inside does not."""
    image, dets = render([("HELLO", (-20, 230), 48), ("WORLD", (200, 100), 48)])
    result = margins_of(image, dets, "HELLO WORLD", share=0.0)
    assert result.violation is True
    assert [c.label for c in result.outside] == ["HELLO"]
    assert result.safe_area_ratio == 1.0  # inside the (whole-image) safe area, yet clipped


def test_text_in_the_margin_band_violates_by_its_outside_share() -> None:
    """Text 5 px from the left edge lies partly outside the 5% safe area, by known geometry."""
    image, dets = render([("HELLO", (5, 230), 48)])
    det = dets[0]
    result = margins_of(image, dets, "HELLO")
    safe_left = SIZE * 0.05
    assert det.left < safe_left < det.right
    assert result.violation is True
    assert not result.outside[0].clipped
    assert result.safe_area_ratio == pytest.approx((det.right - safe_left) / (det.right - det.left))


def test_unexpected_text_is_not_checked() -> None:
    """Only detections holding expected words count: stray text at the edge is ignored."""
    image, dets = render([("HELLO", (150, 230), 48), ("zzqx", (SIZE - 40, 5), 30)])
    result = margins_of(image, dets, "HELLO")
    assert result.violation is False


def test_nothing_to_check_is_none() -> None:
    """No boxes: the margin scores do not apply."""
    result = check_margins([], [], SIZE, SIZE, 0.05)
    assert (result.violation, result.safe_area_ratio) == (None, None)


def test_object_boxes_are_checked_but_never_clipped() -> None:
    """An object box at the border violates the safe area but is not clipped text."""
    result = check_margins([], [("cat", (0.0, 100.0, 80.0, 200.0))], SIZE, SIZE, 0.05)
    assert result.violation is True
    assert result.outside[0].kind == "object" and not result.outside[0].clipped


def test_safe_area_and_border() -> None:
    """The safe area drops the margin share on every side; touching means within 1 px."""
    assert safe_area(200, 100, 0.1) == (20.0, 10.0, 180.0, 90.0)
    assert touches_border((0.5, 10, 50, 50), 200, 100)
    assert touches_border((10, 10, 199.5, 50), 200, 100)
    assert not touches_border((1, 1, 199, 99), 200, 100)


boxes = st.tuples(
    st.floats(-50, 250), st.floats(-50, 250), st.floats(0, 120), st.floats(0, 120)
).map(lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3]))


@given(st.lists(boxes, min_size=1, max_size=6), st.floats(0.0, 0.45))
def test_margin_ratio_is_a_share(box_list: list, share: float) -> None:
    """safe_area_ratio stays in 0..1, and a violation is reported whenever a box sticks out."""
    result = check_margins([("t", b) for b in box_list], [], 200, 200, share)
    assert result.safe_area_ratio is not None and 0.0 <= result.safe_area_ratio <= 1.0
    area = safe_area(200, 200, share)
    sticks_out = any(inside_ratio(b, area) < 1.0 for b in box_list)
    clipped = any(touches_border(b, 200, 200) for b in box_list)
    assert result.violation is (sticks_out or clipped)


# ---------------------------------------------------------------------------- legibility


def test_large_dark_text_on_white_is_legible() -> None:
    """Big black text on white: every expected word legible, contrast close to 21:1."""
    image, dets = render([("OPEN", (100, 200), 48), ("NOW", (300, 200), 48)])
    result = legibility_of(image, dets, "OPEN NOW")
    assert result.score == 1.0
    assert all(w.contrast is not None and w.contrast > 18 for w in result.words)


def test_eight_pixel_text_is_too_small() -> None:
    """Text about 8 px high on a 512 px image is below 3% (15.4 px) and 10 px: not legible."""
    image, dets = render([("tiny", (200, 250), 10)])
    assert dets[0].height <= 10
    result = legibility_of(image, dets, "tiny")
    assert result.score == 0.0
    assert "too_small" in result.words[0].reasons


def test_height_floor_is_the_larger_of_share_and_pixels() -> None:
    """On a small image the 10 px floor applies even where 3% of the height is less."""
    image, dets = render([("word", (10, 40), 11)], size=128)
    assert 128 * 0.03 < dets[0].height < 10
    assert legibility_of(image, dets, "word").words[0].reasons == ("too_small",)


def test_grey_on_grey_is_low_contrast() -> None:
    """Grey text on a slightly lighter grey: the measured ratio is the colours' WCAG ratio."""
    fg, bg = (120, 120, 120), (150, 150, 150)
    image, dets = render([("SALE", (150, 200), 64)], fg=fg, bg=bg)
    expected = contrast_ratio(
        float(relative_luminance(np.array(fg, dtype=np.uint8))),
        float(relative_luminance(np.array(bg, dtype=np.uint8))),
    )
    assert expected < 3.0
    measured = text_contrast(image, _box(dets[0]))
    assert measured == pytest.approx(expected, rel=0.02)
    result = legibility_of(image, dets, "SALE")
    assert result.words[0].reasons == ("low_contrast",)


def test_low_confidence_is_not_legible() -> None:
    """A word read with confidence under 0.5 is not legible, whatever its size and contrast."""
    image, dets = render([("OPEN", (150, 200), 48)])
    weak = [Detection(dets[0].box, dets[0].text, 0.3)]
    assert legibility_of(image, weak, "OPEN").words[0].reasons == ("low_confidence",)


def test_missing_word_counts_against_legibility() -> None:
    """An expected word OCR did not read is not legible; the share counts all expected words."""
    image, dets = render([("HELLO", (150, 200), 48)])
    result = legibility_of(image, dets, "HELLO WORLD")
    assert result.score == 0.5
    assert result.words[1].reasons == ("not_read",)


def test_near_match_stands_for_its_expected_word() -> None:
    """A misspelt but visible word is judged on how it is rendered, not on its spelling."""
    image, dets = render([("HELLQ", (150, 200), 48)])
    result = legibility_of(image, dets, "HELLO")
    assert result.score == 1.0
    assert result.words[0].read_as == "hellq"


def test_repeated_expected_word_needs_two_readings() -> None:
    """'GO GO' with one GO read: one legible, one not read."""
    image, dets = render([("GO", (150, 200), 48)])
    result = legibility_of(image, dets, "GO GO")
    assert result.score == 0.5


def test_no_expected_text_no_legibility() -> None:
    """Without expected text legibility does not apply."""
    image, dets = render([("HELLO", (150, 200), 48)])
    assert check_legibility(image, dets, score_text([], dets), LegibilityThresholds()).score is None


def test_flat_box_has_unit_contrast() -> None:
    """A box over a single colour has contrast 1:1; an empty box too."""
    flat = np.full((50, 50, 3), 90, dtype=np.uint8)
    assert text_contrast(flat, (5, 5, 40, 40)) == 1.0
    assert text_contrast(flat, (60, 60, 70, 70)) == 1.0


def test_wcag_reference_values() -> None:
    """Black on white is 21:1; the WCAG luminance of mid grey #777777 gives 4.48:1 on white."""
    white = float(relative_luminance(np.array([255, 255, 255], dtype=np.uint8)))
    black = float(relative_luminance(np.array([0, 0, 0], dtype=np.uint8)))
    grey = float(relative_luminance(np.array([0x77, 0x77, 0x77], dtype=np.uint8)))
    assert contrast_ratio(white, black) == pytest.approx(21.0)
    assert contrast_ratio(grey, white) == pytest.approx(4.48, abs=0.01)


# -------------------------------------------------------------------------------- sanity


def test_black_frame_is_blank() -> None:
    """An all-black frame (what safety filters return) is blank."""
    assert check_sanity(np.zeros((SIZE, SIZE, 3), dtype=np.uint8), None).blank


def test_noisy_near_black_is_blank() -> None:
    """Near-black with compression-like noise (levels 0..12) is still blank."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 13, (SIZE, SIZE, 3), dtype=np.uint8)
    result = check_sanity(frame, None)
    assert result.grey_std > 2.0  # not uniform: the near-black rule catches it
    assert result.blank


def test_uniform_grey_is_blank_but_a_text_image_is_not() -> None:
    """A flat mid-grey image is blank; the same grey with text on it is not."""
    flat = np.full((SIZE, SIZE, 3), 128, dtype=np.uint8)
    assert check_sanity(flat, None).blank
    image, _ = render([("HELLO", (150, 200), 48)], bg=(128, 128, 128))
    assert not check_sanity(image, None).blank


def test_dark_scene_with_a_bright_moon_is_not_blank() -> None:
    """A dark night scene with a bright moon covering 2% of the frame is not near-black."""
    scene = np.full((SIZE, SIZE, 3), 8, dtype=np.uint8)
    cv2.circle(scene, (380, 120), 42, (235, 235, 220), -1)
    assert not check_sanity(scene, None).blank


def test_blurred_copy_is_less_sharp() -> None:
    """A Gaussian-blurred copy has a far lower variance of the Laplacian than the original."""
    image, _ = render([("SHARP", (120, 200), 64), ("edges", (150, 300), 48)])
    blurred = cv2.GaussianBlur(image, (0, 0), 3.0)
    sharp, soft = check_sanity(image, None).sharpness, check_sanity(blurred, None).sharpness
    assert soft < sharp / 10


def test_size_ok_against_the_requested_size() -> None:
    """size_ok compares (width, height) with the request; None without a request."""
    image = np.zeros((256, 512, 3), dtype=np.uint8)
    assert check_sanity(image, (512, 256)).size_ok is True
    assert check_sanity(image, (256, 512)).size_ok is False
    assert check_sanity(image, None).size_ok is None


@given(st.lists(st.integers(0, 255), min_size=1, max_size=300), st.floats(0, 100))
def test_percentile_matches_numpy_lower(values: list[int], q: float) -> None:
    """The histogram percentile equals numpy's 'lower' percentile."""
    array = np.array(values, dtype=np.uint8)
    assert percentile_u8(array, q) == float(np.percentile(array, q, method="lower"))
