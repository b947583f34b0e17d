"""Untrusted image bytes: every format decodes to RGB uint8, every bad input names its reason."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

from driftmon.errors import ImageTooLarge, ImageUnreadable
from driftmon.images.decode import check_image, decode_image, read_header
from tests.imaging import header_only_png, huge_png_header, png_bytes, truncated_jpeg


@pytest.mark.parametrize(
    ("name", "data", "error", "message"),
    [
        ("empty", b"", ImageUnreadable, "empty file"),
        ("text", b"this is not an image at all", ImageUnreadable, "not an image"),
        ("truncated", png_bytes(np.full((300, 300, 3), 90, np.uint8))[:300], ImageUnreadable, "truncated"),
        ("bomb", huge_png_header(), ImageTooLarge, "900,000,000 pixels exceeds the limit"),
    ],
)
def test_bad_input_is_rejected_with_reason(name: str, data: bytes, error: type, message: str) -> None:
    """Each bad input raises its own error class with a message naming the reason."""
    with pytest.raises(error, match=message):
        decode_image(data)


def test_pixel_limit_checked_from_header() -> None:
    """The limit applies before decoding: a small PNG over a tiny limit is refused."""
    data = png_bytes(np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(ImageTooLarge):
        read_header(data, max_pixels=100)
    assert read_header(data).width == 20


def _palette_image(colour: tuple[int, int, int]) -> Image.Image:
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, *colour] + [0] * 762)
    return image


def _frames_gif() -> bytes:
    first = Image.new("RGB", (8, 8), (255, 0, 0))
    second = Image.new("RGB", (8, 8), (0, 0, 255))
    return png_bytes(first, "GIF", save_all=True, append_images=[second])


@pytest.mark.parametrize(
    ("name", "data", "pixel"),
    [
        ("grey", png_bytes(Image.new("L", (8, 8), 128)), (128, 128, 128)),
        ("rgba transparent", png_bytes(Image.new("RGBA", (8, 8), (0, 0, 0, 0))), (255, 255, 255)),
        ("rgba opaque", png_bytes(Image.new("RGBA", (8, 8), (10, 20, 30, 255))), (10, 20, 30)),
        ("palette", png_bytes(_palette_image((0, 200, 0))), (0, 200, 0)),
        ("16-bit", png_bytes(Image.fromarray(np.full((8, 8), 65535, np.uint16))), (255, 255, 255)),
        ("jpeg", png_bytes(Image.new("RGB", (8, 8), (0, 0, 255)), "JPEG", quality=100), (0, 0, 254)),
        ("webp", png_bytes(Image.new("RGB", (8, 8), (0, 0, 255)), "WEBP", lossless=True), (0, 0, 255)),
        ("animated gif", _frames_gif(), (255, 0, 0)),
    ],
)
def test_formats_decode_to_rgb(name: str, data: bytes, pixel: tuple[int, int, int]) -> None:
    """Every supported mode becomes H×W×3 uint8 RGB (first frame, alpha over white, 16→8 bit)."""
    image = decode_image(data)
    assert image.shape == (8, 8, 3)
    assert image.dtype == np.uint8
    assert tuple(int(v) for v in image[4, 4]) == pytest.approx(pixel, abs=1)


def test_a_png_header_without_pixel_data_is_unreadable_not_a_crash() -> None:
    """D3: 45 bytes (signature, IHDR, IEND): a clear rejection, never PIL's IndexError."""
    data = header_only_png()
    assert len(data) == 45
    with pytest.raises(ImageUnreadable, match="no pixel data"):
        check_image(data)
    with pytest.raises(ImageUnreadable):
        decode_image(data)


def test_a_truncated_jpeg_is_refused_by_the_structural_check() -> None:
    """W7: a JPEG cut short is refused at the door, without decoding; the whole one passes."""
    with pytest.raises(ImageUnreadable, match="truncated JPEG"):
        check_image(truncated_jpeg())
    assert check_image(truncated_jpeg(keep=1.0)).format == "JPEG"


@pytest.mark.parametrize("check", [read_header, check_image, decode_image])
def test_exactly_max_pixels_is_accepted_and_one_more_is_not(check: Any) -> None:
    """The limit is inclusive: 20×20 = 400 pixels passes a 400 limit and fails a 399 one."""
    data = png_bytes(np.zeros((20, 20, 3), np.uint8))
    check(data, max_pixels=400)
    with pytest.raises(ImageTooLarge, match="400 pixels exceeds the limit of 399"):
        check(data, max_pixels=399)
