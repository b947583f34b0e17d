"""Deterministic synthetic images with known text, for OCR equivalence tests and benchmarks.

Every image comes from `random.Random(seed + index)`, so a set is the same on every run and
machine (given the same DejaVu fonts): fonts, sizes, colours, backgrounds and 0–4 lines vary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerifCondensed.ttf",
)
_VOCABULARY = """open coffee sale drift monitor garden river north station bakery hello world
exit market light quantum summer winter harbor museum pizza metro route delta sunset record orbit
vision forest cinema 2024 42 15% NEW FREE STOP Hotel Books Jazz Zone"""
WORDS = tuple(_VOCABULARY.split())


@dataclass(frozen=True)
class TextImage:
    """One generated RGB uint8 image and the lines of text drawn on it, top to bottom."""

    image: np.ndarray
    lines: tuple[str, ...]


def fonts_available() -> bool:
    """Whether the DejaVu fonts the generator draws with are installed."""
    return all((FONT_DIR / name).is_file() for name in FONTS)


def _background(rng: random.Random, size: int) -> tuple[np.ndarray, float]:
    """A flat, gradient or noisy background and its mean luminance (0..255)."""
    base = np.array([rng.randint(0, 255) for _ in range(3)], dtype=np.float32)
    kind = rng.choice(("flat", "gradient", "noise"))
    canvas = np.broadcast_to(base, (size, size, 3)).astype(np.float32)
    if kind == "gradient":
        other = np.array([rng.randint(0, 255) for _ in range(3)], dtype=np.float32)
        ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
        canvas = canvas * (1 - ramp) + other * ramp
    elif kind == "noise":
        noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 12, (size, size, 1))
        canvas = canvas + noise.astype(np.float32)
    canvas = np.clip(canvas, 0, 255)
    return canvas.astype(np.uint8), float(canvas.mean())


def _ink(rng: random.Random, luminance: float) -> tuple[int, int, int]:
    """A text colour that contrasts with a background of the given mean luminance."""
    if luminance > 128:
        return (rng.randint(0, 70), rng.randint(0, 70), rng.randint(0, 90))
    return (rng.randint(190, 255), rng.randint(190, 255), rng.randint(170, 255))


def _line(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))


def make_text_image(seed: int, size: int = 320, angle: float = 0.0) -> TextImage:
    """One square image of `size` pixels with 0–4 lines of text, fully determined by `seed`.

    A non-zero `angle` (degrees, counter-clockwise) tilts the whole picture, corners filled
    with the top-left colour: EasyOCR then reads rotated boxes (its `free_list`).
    """
    rng = random.Random(seed)
    canvas, luminance = _background(rng, size)
    image = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(image)
    n_lines = rng.choice((0, 1, 1, 2, 2, 3, 4))
    font_px = rng.randint(max(14, size // 22), max(20, size // 9))
    font = ImageFont.truetype(str(FONT_DIR / rng.choice(FONTS)), font_px)
    ink = _ink(rng, luminance)
    lines: list[str] = []
    y = rng.randint(4, max(5, size // 8))
    for _ in range(n_lines):
        text = _line(rng)
        left, _, right, bottom = draw.textbbox((0, 0), text, font=font)
        while right - left > size - 8 and " " in text:
            text = text.rsplit(" ", 1)[0]
            left, _, right, bottom = draw.textbbox((0, 0), text, font=font)
        if y + bottom > size - 4 or right - left > size - 8:
            break
        x = rng.randint(4, max(5, size - 4 - (right - left)))
        draw.text((x - left, y), text, font=font, fill=ink)
        lines.append(text)
        y += bottom + rng.randint(font_px // 3, font_px)
    if angle:
        corner = image.getpixel((0, 0))
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=corner)
    return TextImage(np.asarray(image).copy(), tuple(lines))


def make_text_images(n: int, size: int = 320, seed: int = 0) -> list[TextImage]:
    """`n` images, seeds `seed` .. `seed + n - 1`."""
    return [make_text_image(seed + index, size) for index in range(n)]
