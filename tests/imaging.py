"""Images the tests render themselves, with Debian's DejaVu fonts (deterministic)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
REGULAR = FONT_DIR / "DejaVuSans.ttf"


def font(size: int, path: Path = BOLD) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def render_lines(
    lines: list[str],
    size: tuple[int, int] = (512, 512),
    font_size: int = 48,
    fg: tuple[int, int, int] = (0, 0, 0),
    bg: tuple[int, int, int] = (255, 255, 255),
    origin: tuple[int, int] = (40, 160),
    font_path: Path = BOLD,
) -> np.ndarray:
    """RGB image with `lines` drawn top to bottom from `origin`."""
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    x, y = origin
    face = font(font_size, font_path)
    for line in lines:
        draw.text((x, y), line, font=face, fill=fg)
        y += int(font_size * 1.5)
    return np.asarray(img)


def png_bytes(image: np.ndarray | Image.Image, fmt: str = "PNG", **kwargs: object) -> bytes:
    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buffer = io.BytesIO()
    pil.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def huge_png_header(width: int = 30000, height: int = 30000) -> bytes:
    """A valid PNG signature and IHDR claiming width×height, with a tiny IDAT (a bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def header_only_png(width: int = 64, height: int = 64) -> bytes:
    """45 bytes: a PNG signature, an IHDR and an IEND, and no pixel data (no IDAT)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b"")


def truncated_jpeg(size: tuple[int, int] = (256, 256), keep: float = 0.5) -> bytes:
    """A noisy RGB JPEG cut to `keep` of its length (its end-of-image marker gone)."""
    noise = np.random.default_rng(3).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    data = png_bytes(noise, "JPEG", quality=90)
    return data[: int(len(data) * keep)]
