"""Decode untrusted image bytes into RGB uint8 arrays, or say precisely why not.

The pixel limit is checked from the header, before any pixel is decoded, so a decompression
bomb costs nothing. Animated images give their first frame; alpha is composited over white;
16-bit and float images are scaled to 8 bits.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from driftmon.errors import ImageTooLarge, ImageUnreadable

DEFAULT_MAX_PIXELS = 40_000_000

# driftmon enforces its own limit (scoring.max_pixels) from the header, before decoding; PIL's
# global bomb check would otherwise cap that limit at 89 MP and word its errors differently.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What the header says, read without decoding pixels."""

    format: str
    width: int
    height: int
    mode: str


def _open(data: bytes) -> Image.Image:
    if not data:
        raise ImageUnreadable("empty file")
    try:
        return Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageUnreadable("not an image (unknown format)") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageUnreadable(f"corrupt image header ({exc})") from exc


def _check_size(img: Image.Image, max_pixels: int) -> None:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageUnreadable(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,}"
        )


def read_header(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageHeader:
    """Identify the format and size without decoding; raises ImageRejected subclasses."""
    img = _open(data)
    _check_size(img, max_pixels)
    return ImageHeader(str(img.format), img.size[0], img.size[1], img.mode)


#: a JPEG's end-of-image marker, and how far before the end of the file it may sit (encoders and
#: cameras may pad or append a little after it)
JPEG_EOI = b"\xff\xd9"
JPEG_TAIL = 1024


def _check_structure(data: bytes, header: ImageHeader) -> None:
    """The file's structure without decoding pixels: PIL's verify (PNG: every chunk's checksum up
    to IEND, so truncation shows) plus what verify does not see: a PNG without pixel data (IDAT),
    a JPEG cut short (no end-of-image marker near its end)."""
    if header.format == "PNG" and b"IDAT" not in data:
        raise ImageUnreadable("PNG has no pixel data (no IDAT chunk)")
    if header.format == "JPEG" and JPEG_EOI not in data[-JPEG_TAIL:]:
        raise ImageUnreadable("truncated JPEG (no end-of-image marker)")
    try:
        _open(data).verify()
    except Exception as exc:  # any decoder failure on untrusted bytes is the image's fault
        raise ImageUnreadable(f"truncated or corrupt image data ({type(exc).__name__}: {exc})") from exc


def check_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageHeader:
    """Validate without decoding pixels: the header, the pixel limit, and the file's structure
    (`_check_structure`). Cheaper than `decode_image` by an order of magnitude; what it cannot
    see (a corrupt entropy-coded body) fails at decoding, in the worker, counted `rejected`."""
    header = read_header(data, max_pixels)
    _check_structure(data, header)
    return header


def _scale_to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        scaled: np.ndarray = (np.clip(np.nan_to_num(array), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        return scaled
    peak = 65535 if array.max(initial=0) > 255 or array.dtype == np.uint16 else 255
    return (array.astype(np.float64) * (255.0 / peak) + 0.5).astype(np.uint8)


def _to_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        grey = _scale_to_uint8(np.asarray(img))
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "P" or mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode `data` to an H×W×3 uint8 RGB array; raises ImageRejected with the reason."""
    img = _open(data)
    _check_size(img, max_pixels)
    try:
        img.seek(0)
        img.load()
        rgb = _to_rgb(img)
    except (OSError, ValueError, SyntaxError, EOFError, IndexError) as exc:
        raise ImageUnreadable(f"truncated or corrupt image data ({exc})") from exc
    return np.ascontiguousarray(rgb)


def load_image_file(path: Path | str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read and decode a file; raises ImageRejected (or ImageUnreadable for I/O errors)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageUnreadable(f"cannot read file ({exc.strerror})") from exc
    return decode_image(data, max_pixels)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB array (for artifacts and overlays)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()
