"""driftmon.images.decode at its edges: exact messages, bit-depth scaling, transparency, the JPEG tail,
the header-only checks. Written to kill the mutants bench/mutation.sh found surviving
tests/unit/test_images.py."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from driftmon.errors import ImageTooLarge, ImageUnreadable
from driftmon.images.decode import (
    DEFAULT_MAX_PIXELS,
    JPEG_EOI,
    JPEG_TAIL,
    check_image,
    decode_image,
    encode_png,
    load_image_file,
    read_header,
)
from tests.imaging import huge_png_header, png_bytes, truncated_jpeg


def tiff(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="TIFF")
    return buffer.getvalue()


def test_the_defaults() -> None:
    assert DEFAULT_MAX_PIXELS == 40_000_000 and JPEG_EOI == b"\xff\xd9" and JPEG_TAIL == 1024
    assert Image.MAX_IMAGE_PIXELS is None


def test_a_header_over_pil_s_own_bomb_limit_is_judged_by_driftmon_s_limit_only() -> None:
    header = read_header(huge_png_header(), max_pixels=10**9)
    assert (header.format, header.width, header.height) == ("PNG", 30000, 30000)


def test_messages_name_the_reason_exactly() -> None:
    with pytest.raises(ImageUnreadable) as empty:
        read_header(b"")
    assert str(empty.value) == "empty file"
    with pytest.raises(ImageUnreadable) as unknown:
        read_header(b"plain text, no image")
    assert str(unknown.value) == "not an image (unknown format)"
    with pytest.raises(ImageTooLarge) as large:
        read_header(png_bytes(np.zeros((2, 3, 3), np.uint8)), max_pixels=5)
    assert str(large.value) == "3x2 = 6 pixels exceeds the limit of 5"


def test_the_header_reports_format_size_and_mode() -> None:
    header = check_image(png_bytes(Image.new("LA", (5, 3))))
    assert (header.format, header.width, header.height, header.mode) == ("PNG", 5, 3, "LA")


def test_a_jpeg_with_padding_after_its_end_marker_passes_within_the_tail() -> None:
    whole = truncated_jpeg(keep=1.0)
    check_image(whole + b"\x00" * (JPEG_TAIL - 2))
    with pytest.raises(ImageUnreadable, match="truncated JPEG"):
        check_image(whole + b"\x00" * (JPEG_TAIL - 1))


def test_a_png_with_a_bad_checksum_is_refused_by_verify() -> None:
    data = bytearray(png_bytes(np.full((16, 16, 3), 7, np.uint8)))
    at = data.index(b"IDAT") + 6
    data[at] ^= 0xFF
    with pytest.raises(ImageUnreadable) as caught:
        check_image(bytes(data))
    assert str(caught.value).startswith("truncated or corrupt image data (")


def test_decoding_a_corrupt_body_is_unreadable_naming_it() -> None:
    with pytest.raises(ImageUnreadable) as caught:
        decode_image(png_bytes(np.full((300, 300, 3), 90, np.uint8))[:300])
    assert str(caught.value).startswith("truncated or corrupt image data (")


@pytest.mark.parametrize(
    ("values", "expected"),
    [((0, 65535, 32768), (0, 255, 128)), ((0, 255, 128), (0, 1, 0))],
)
def test_16_bit_grey_scales_by_65535(values: tuple[int, int, int], expected: tuple[int, int, int]) -> None:
    array = np.array([values], np.uint16)
    image = decode_image(png_bytes(Image.fromarray(array)))
    assert tuple(int(v) for v in image[0, :, 0]) == expected
    assert image.shape == (1, 3, 3) and image.flags["C_CONTIGUOUS"]


def test_32_bit_integers_within_8_bits_scale_by_255() -> None:
    image = decode_image(tiff(np.array([[0, 128, 255]], np.int32), "I"))
    assert tuple(int(v) for v in image[0, :, 1]) == (0, 128, 255)


def test_32_bit_integers_over_8_bits_scale_by_65535() -> None:
    image = decode_image(tiff(np.array([[0, 256, 65535]], np.int32), "I"))
    assert tuple(int(v) for v in image[0, :, 2]) == (0, 1, 255)


def test_float_images_clip_to_0_1_and_nan_is_0() -> None:
    image = decode_image(tiff(np.array([[0.0, 0.5, 1.0, 2.0, -1.0, np.nan]], np.float32), "F"))
    assert tuple(int(v) for v in image[0, :, 0]) == (0, 128, 255, 255, 0, 0)


def test_grey_with_alpha_and_rgb_with_a_transparent_colour_composite_over_white() -> None:
    la = decode_image(png_bytes(Image.new("LA", (4, 4), (0, 0))))
    assert tuple(int(v) for v in la[1, 1]) == (255, 255, 255)
    rgb = Image.new("RGB", (4, 4), (10, 20, 30))
    keyed = decode_image(png_bytes(rgb, transparency=(10, 20, 30)))
    assert tuple(int(v) for v in keyed[1, 1]) == (255, 255, 255)
    plain = decode_image(png_bytes(rgb))
    assert tuple(int(v) for v in plain[1, 1]) == (10, 20, 30)


def test_a_palette_with_a_transparent_index_composites_over_white() -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    decoded = decode_image(png_bytes(image, transparency=1))
    assert tuple(int(v) for v in decoded[1, 1]) == (255, 255, 255)


def test_load_image_file_reads_and_names_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes(np.full((3, 4, 3), 9, np.uint8)))
    assert load_image_file(path).shape == (3, 4, 3)
    with pytest.raises(ImageTooLarge):
        load_image_file(path, max_pixels=11)
    with pytest.raises(ImageUnreadable) as caught:
        load_image_file(tmp_path / "missing.png")
    assert str(caught.value) == "cannot read file (No such file or directory)"


def test_encode_png_round_trips() -> None:
    array = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    data = encode_png(array)
    assert data.startswith(b"\x89PNG") and np.array_equal(decode_image(data), array)


def test_a_corrupt_header_of_a_known_format_is_named() -> None:
    with pytest.raises(ImageUnreadable) as caught:
        read_header(b"BM" + b"\xff" * 60)
    assert str(caught.value).startswith("corrupt image header (")


@pytest.mark.parametrize("size", [(0, 5), (5, 0), (0, 0), (-1, 5)])
def test_a_size_without_pixels_is_refused_by_the_size_check(size: tuple[int, int]) -> None:
    """PIL's openers refuse such files themselves; the guard stands behind them."""
    from types import SimpleNamespace

    from driftmon.images.decode import _check_size

    with pytest.raises(ImageUnreadable) as caught:
        _check_size(SimpleNamespace(size=size), 100)  # type: ignore[arg-type]
    assert str(caught.value) == f"image has no pixels ({size[0]}x{size[1]})"
    _check_size(SimpleNamespace(size=(1, 1)), 1)  # type: ignore[arg-type]


def test_the_header_is_a_frozen_slotted_record() -> None:
    from dataclasses import FrozenInstanceError

    header = read_header(png_bytes(np.zeros((2, 2, 3), np.uint8)))
    with pytest.raises(FrozenInstanceError):
        header.width = 3  # type: ignore[misc]
    assert not hasattr(header, "__dict__")


def test_structure_messages_are_exact() -> None:
    from tests.imaging import header_only_png

    with pytest.raises(ImageUnreadable) as no_pixels:
        check_image(header_only_png())
    assert str(no_pixels.value) == "PNG has no pixel data (no IDAT chunk)"
    with pytest.raises(ImageUnreadable) as cut:
        check_image(truncated_jpeg())
    assert str(cut.value) == "truncated JPEG (no end-of-image marker)"


def test_16_bit_rounding_divides_by_65535_exactly() -> None:
    """33025 · 255 / 65535 = 128.502 → 129; by 65536 it would be 128.49998 → 128."""
    image = decode_image(png_bytes(Image.fromarray(np.array([[33025]], np.uint16))))
    assert int(image[0, 0, 0]) == 129


def test_32_bit_integers_up_to_255_are_8_bit_and_256_is_not() -> None:
    assert int(decode_image(tiff(np.array([[0, 255]], np.int32), "I"))[0, 1, 0]) == 255
    assert tuple(int(v) for v in decode_image(tiff(np.array([[0, 256]], np.int32), "I"))[0, :, 0]) == (0, 1)


@pytest.mark.parametrize(
    ("mode", "dtype"), [("I;16", "<u2"), ("I;16B", ">u2"), ("I;16L", "<u2"), ("I;16N", "=u2")]
)
def test_every_16_bit_mode_is_scaled_not_clipped(mode: str, dtype: str) -> None:
    from driftmon.images.decode import _to_rgb

    image = Image.frombytes(mode, (2, 1), np.array([0, 33025], dtype=dtype).tobytes())
    assert tuple(int(v) for v in _to_rgb(image)[0, :, 2]) == (0, 129)


def test_a_big_endian_16_bit_tiff_decodes_scaled() -> None:
    image = Image.frombytes("I;16B", (2, 1), np.array([0, 65535], dtype=">u2").tobytes())
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF")
    assert tuple(int(v) for v in decode_image(buffer.getvalue())[0, :, 0]) == (0, 255)


@pytest.mark.parametrize("mode", ["RGBa", "PA"])
def test_premultiplied_and_palette_alpha_modes_composite_over_white(mode: str) -> None:
    from driftmon.images.decode import _to_rgb

    image = Image.new(mode, (2, 2), (0, 0, 0, 0) if mode == "RGBa" else (1, 0))
    if mode == "PA":
        image.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    assert tuple(int(v) for v in _to_rgb(image)[1, 1]) == (255, 255, 255)
