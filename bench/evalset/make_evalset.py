"""Render driftmon's text-fidelity evaluation set: 70 seeded images that look like diffusion output.

    .venv/bin/python -m bench.evalset.make_evalset            # writes bench/evalset/data/

30 correct renders, 20 wrong renders (typos, missing or wrong words) and 10 edge cases (two
columns, a title over columns, lines in another order, text cropped at the border, 2%-high text,
nothing drawn), in 19 families of Debian font packages (scripts/setup.sh installs them), on
scikit-image photos, textures and gradients, with rotation ±3–12°, perspective, blur, JPEG q40,
outlines, shadows, glow and plates. Each image comes from `random.Random(SEED + index)`.

`manifest.jsonl` has one object per image: `path` (relative to the manifest), `prompt` (the
expected lines as quoted spans), `expected_text` (the lines, newline-separated), `drawn_text`,
`kind` (correct | wrong | edge), `case`, `truth` (the true fidelity: similarity between the
expected text and the text actually drawn and visible), `split` and `sha256`.

Split (fixed before any tuning): within each kind, even positions are `tuning`, odd `held-out`.
The set is committed; regenerate only to extend it, and never after tuning on held-out figures.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from skimage import data as skdata

from driftmon.scoring.text import normalise, similarity

SEED = 14_2024
SIZE = 512
OUT = Path(__file__).resolve().parent / "data"
FONT_ROOTS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype"))
#: (family, file) pairs: display, serif, sans, condensed, mono, script and rounded faces
FONTS = (
    ("DejaVu Sans Bold", "dejavu/DejaVuSans-Bold.ttf"),
    ("DejaVu Serif", "dejavu/DejaVuSerif.ttf"),
    ("DejaVu Sans Condensed Bold", "dejavu/DejaVuSansCondensed-Bold.ttf"),
    ("Liberation Sans Bold", "liberation/LiberationSans-Bold.ttf"),
    ("Liberation Serif Italic", "liberation/LiberationSerif-Italic.ttf"),
    ("Liberation Sans Narrow Bold", "liberation/LiberationSansNarrow-Bold.ttf"),
    ("FreeSerif Bold", "freefont/FreeSerifBold.ttf"),
    ("FreeMono Bold", "freefont/FreeMonoBold.ttf"),
    ("Nimbus Sans Narrow Bold", "urw-base35/NimbusSansNarrow-Bold.otf"),
    ("URW Bookman Demi", "urw-base35/URWBookman-Demi.otf"),
    ("URW Gothic Demi", "urw-base35/URWGothic-Demi.otf"),
    ("C059 Bold", "urw-base35/C059-Bold.otf"),
    ("P052 Italic", "urw-base35/P052-Italic.otf"),
    ("Z003 script", "urw-base35/Z003-MediumItalic.otf"),
    ("Roboto Black", "roboto/unhinted/RobotoTTF/Roboto-Black.ttf"),
    ("Roboto Condensed Bold", "roboto/unhinted/RobotoCondensed-Bold.ttf"),
    ("Open Sans ExtraBold", "open-sans/OpenSans-ExtraBold.ttf"),
    ("Lato Heavy", "lato/Lato-Heavy.ttf"),
    ("Carlito Bold", "crosextra/Carlito-Bold.ttf"),
)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "camera", "moon")
TEXTURES = ("brick", "grass", "gravel")
#: sign texts, one tuple of lines each (several have accents)
TEXTS = (
    ("SUMMER FESTIVAL", "2024"),
    ("GRAND OPENING",),
    ("50% OFF!",),
    ("Café Olé",),
    ("OPEN 24 HOURS",),
    ("NO PARKING", "TOW AWAY ZONE"),
    ("Welcome Home",),
    ("Jazz Night", "Friday 9 PM"),
    ("Crème Brûlée",),
    ("SALE ENDS SUNDAY",),
    ("Harbor Lights",),
    ("MIDNIGHT DINER",),
    ("BEST COFFEE", "IN TOWN"),
    ("Mountain Trail", "Exit 12"),
    ("Happy Birthday", "Emma"),
    ("Zürich Bahnhof",),
    ("Piñata Party",),
    ("FRESH BAKED", "BREAD DAILY", "SINCE 1987"),
    ("Keep Calm", "and Carry On"),
    ("GAME OVER",),
    ("Lemonade 2$",),
    ("Book Club",),
    ("STARLIGHT CINEMA", "NOW SHOWING"),
    ("Thank You!",),
    ("Organic Market",),
)
SPARE_WORDS = ("Garden", "River", "North", "Station", "Pizza", "Metro", "Sunset", "Orbit", "Forest")
_CONFUSABLE = "abcdefghijklmnopqrstuvwxyz"


@dataclass
class Style:
    """How one image's text is drawn and degraded."""

    font: tuple[str, str]
    height: float  # text size as a share of the image height
    angle: float
    perspective: float
    blur: float
    jpeg: int | None
    outline: bool
    shadow: bool
    glow: bool
    plate: bool
    background: str
    extras: dict[str, object] = field(default_factory=dict)


# -- backgrounds ------------------------------------------------------------------------------


def _square(image: np.ndarray, rng: random.Random) -> np.ndarray:
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = image[..., :3]
    side = min(image.shape[:2])
    top = rng.randint(0, image.shape[0] - side)
    left = rng.randint(0, image.shape[1] - side)
    crop = image[top : top + side, left : left + side]
    return cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def _gradient(rng: random.Random) -> np.ndarray:
    a = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
    b = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    ramp = np.clip(np.cos(angle) * xx + np.sin(angle) * yy, 0, 1)[..., None]
    return (a * (1 - ramp) + b * ramp).astype(np.uint8)


def background(kind: str, rng: random.Random) -> tuple[np.ndarray, str]:
    """An RGB uint8 background and its name."""
    if kind == "photo":
        name = rng.choice(PHOTOS)
        return _square(getattr(skdata, name)(), rng), name
    if kind == "texture":
        name = rng.choice(TEXTURES)
        grey = _square(getattr(skdata, name)(), rng).astype(np.float32) / 255
        tint = np.array([rng.uniform(0.4, 1.0) for _ in range(3)], np.float32)
        return (grey * tint * 255).astype(np.uint8), name
    return _gradient(rng), "gradient"


# -- text layer -------------------------------------------------------------------------------


def font_path(file: str) -> Path:
    for root in FONT_ROOTS:
        if (root / file).is_file():
            return root / file
    raise FileNotFoundError(f"font {file} not found; run scripts/setup.sh (font packages)")


def _fit_font(file: str, lines: tuple[str, ...], px: int, max_width: float) -> ImageFont.FreeTypeFont:
    """The font at `px`, shrunk until the widest line fits `max_width`."""
    path = str(font_path(file))
    while True:
        font = ImageFont.truetype(path, px)
        if max(font.getlength(line) for line in lines) <= max_width or px <= 8:
            return font
        px -= 2


def _contrast(bg: np.ndarray, box: tuple[int, int, int, int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(fill, outline) colours that contrast with the background under `box`."""
    x0, y0, x1, y1 = (max(0, min(SIZE, v)) for v in box)
    patch = bg[y0:y1, x0:x1] if x1 > x0 and y1 > y0 else bg
    luminance = float(np.mean(patch @ np.array([0.299, 0.587, 0.114])))
    dark, light = (15, 15, 25), (250, 248, 240)
    return (dark, light) if luminance > 128 else (light, dark)


@dataclass(frozen=True)
class Block:
    """Lines drawn as one centred block at (cx, top)."""

    lines: tuple[str, ...]
    cx: float
    top: float


def draw_blocks(
    bg: np.ndarray, blocks: list[Block], font: ImageFont.FreeTypeFont, style: Style
) -> Image.Image:
    """An RGBA layer with the blocks' text drawn with the style's plate, shadow, glow, outline."""
    layer = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    ascent, descent = font.getmetrics()
    step = int((ascent + descent) * 1.15)
    stroke = max(2, font.size // 14) if style.outline else 0
    for block in blocks:
        width = max(font.getlength(line) for line in block.lines)
        box = (
            int(block.cx - width / 2 - 12),
            int(block.top - 10),
            int(block.cx + width / 2 + 12),
            int(block.top + step * len(block.lines) + 6),
        )
        fill, edge = _contrast(bg, box)
        if style.plate:  # a sign board in the outline colour, text contrasting with it
            ImageDraw.Draw(layer).rounded_rectangle(box, radius=12, fill=(*edge, 215))
        effects = Image.new("RGBA", layer.size, (0, 0, 0, 0))
        text = Image.new("RGBA", layer.size, (0, 0, 0, 0))
        for row, line in enumerate(block.lines):
            x = block.cx - font.getlength(line) / 2
            y = block.top + row * step
            if style.shadow:
                ImageDraw.Draw(effects).text((x + 4, y + 4), line, font=font, fill=(0, 0, 0, 170))
            if style.glow:
                ImageDraw.Draw(effects).text(
                    (x, y), line, font=font, fill=(*edge, 255), stroke_width=4, stroke_fill=(*edge, 255)
                )
            ImageDraw.Draw(text).text(
                (x, y), line, font=font, fill=(*fill, 255), stroke_width=stroke, stroke_fill=(*edge, 255)
            )
        if style.shadow or style.glow:
            effects = effects.filter(ImageFilter.GaussianBlur(3))
        layer = Image.alpha_composite(Image.alpha_composite(layer, effects), text)
    return layer


def distort(layer: Image.Image, style: Style, rng: random.Random) -> Image.Image:
    """Rotate (about the centre) and put in perspective."""
    layer = layer.rotate(-style.angle, resample=Image.Resampling.BICUBIC, center=(SIZE / 2, SIZE / 2))
    if style.perspective:
        k = style.perspective * SIZE
        src = np.float32([[0, 0], [SIZE, 0], [SIZE, SIZE], [0, SIZE]])
        dst = src + np.float32([[rng.uniform(-k, k), rng.uniform(-k, k)] for _ in range(4)])
        matrix = cv2.getPerspectiveTransform(src, dst)
        warped = cv2.warpPerspective(np.asarray(layer), matrix, (SIZE, SIZE), flags=cv2.INTER_CUBIC)
        layer = Image.fromarray(warped, "RGBA")
    return layer


def finish(bg: np.ndarray, layer: Image.Image, style: Style) -> Image.Image:
    """Composite, blur, JPEG round trip."""
    image = Image.alpha_composite(Image.fromarray(bg).convert("RGBA"), layer).convert("RGB")
    if style.blur:
        image = image.filter(ImageFilter.GaussianBlur(style.blur))
    if style.jpeg:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=style.jpeg)
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image


# -- items ------------------------------------------------------------------------------------


def random_style(rng: random.Random, index: int, calm: bool = False) -> Style:
    tilted = rng.random() < 0.5 and not calm
    return Style(
        font=FONTS[index % len(FONTS)],
        height=rng.uniform(0.06, 0.13),
        angle=rng.choice((-1, 1)) * rng.uniform(3, 12) if tilted else rng.uniform(-1.5, 1.5),
        perspective=0.0 if calm or rng.random() < 0.7 else rng.uniform(0.02, 0.06),
        blur=0.0 if calm or rng.random() < 0.7 else rng.uniform(0.5, 1.2),
        jpeg=None if calm or rng.random() < 0.7 else 40,
        outline=rng.random() < 0.3,
        shadow=rng.random() < 0.3,
        glow=rng.random() < 0.15,
        plate=False,
        background=rng.choice(("photo", "photo", "texture", "gradient")),
    )


def mutate(lines: tuple[str, ...], rng: random.Random) -> tuple[tuple[str, ...], str]:
    """Lines with typos, a missing or a wrong word, until fidelity to the original is ≤ 0.8."""
    target = " ".join(lines)
    drawn = [line.split() for line in lines]
    done: list[str] = []
    while similarity(normalise(target), normalise(" ".join(" ".join(w) for w in drawn))) > 0.8:
        row = rng.randrange(len(drawn))
        if not drawn[row]:
            continue
        col = rng.randrange(len(drawn[row]))
        word = drawn[row][col]
        op = rng.choice(("typo", "typo", "missing", "wrong"))
        if op == "typo" and len(word) > 1:
            at = rng.randrange(len(word))
            letter = rng.choice(_CONFUSABLE.replace(word[at].lower(), ""))
            letter = letter.upper() if word[at].isupper() else letter
            drawn[row][col] = word[:at] + letter + word[at + 1 :]
        elif op == "missing" and sum(map(len, drawn)) > 1:
            del drawn[row][col]
        else:
            drawn[row][col] = rng.choice(SPARE_WORDS)
            op = "wrong"
        done.append(op)
    return tuple(" ".join(words) for words in drawn if words), "+".join(done)


def _centred_blocks(lines: tuple[str, ...], font: ImageFont.FreeTypeFont, rng: random.Random) -> list[Block]:
    ascent, descent = font.getmetrics()
    total = int((ascent + descent) * 1.15) * len(lines)
    top = rng.uniform(0.12 * SIZE, max(0.12 * SIZE, 0.88 * SIZE - total))
    return [Block(lines, SIZE / 2 + rng.uniform(-20, 20), top)]


def render(
    lines: tuple[str, ...], style: Style, rng: random.Random, layout: Callable[..., list[Block]]
) -> Image.Image:
    bg, name = background(style.background, rng)
    style.extras["background"] = name
    style.plate = style.background == "photo" and rng.random() < 0.5
    font = _fit_font(style.font[1], lines, int(style.height * SIZE), 0.86 * SIZE)
    layer = draw_blocks(bg, layout(lines, font, rng), font, style)
    return finish(bg, distort(layer, style, rng), style)


def regular_item(index: int, kind: str, rng: random.Random) -> dict[str, object]:
    lines = TEXTS[index % len(TEXTS)]
    style = random_style(rng, index)
    drawn, case = (lines, "as asked") if kind == "correct" else mutate(lines, rng)
    image = render(drawn, style, rng, _centred_blocks)
    return _record(index, kind, case, lines, drawn, image, style)


def _two_columns(
    left: tuple[str, ...], right: tuple[str, ...], title: str | None, font: ImageFont.FreeTypeFont, top: float
) -> list[Block]:
    """Two columns at a quarter and three quarters of the width, an optional title above both."""
    ascent, descent = font.getmetrics()
    blocks = [Block(left, SIZE * 0.27, top), Block(right, SIZE * 0.73, top)]
    if title:
        blocks.insert(0, Block((title,), SIZE / 2, top - 1.6 * (ascent + descent)))
    return blocks


def edge_item(index: int, case: str, rng: random.Random) -> dict[str, object]:
    style = random_style(rng, index, calm=True)
    if case in ("two columns", "title over columns"):
        left, right = (
            (("Fresh", "Bread"), ("Hot", "Soup")) if index % 2 else (("Coffee", "Cake"), ("Tea", "Tart"))
        )
        title = "MENU" if case == "title over columns" else None
        expected = ((title,) if title else ()) + (" ".join(left), " ".join(right))
        style.height = 0.09
        style.font = ("DejaVu Sans Bold", "dejavu/DejaVuSans-Bold.ttf")
        font_lines = left + right
        bg, name = background("gradient", rng)
        style.extras["background"] = name
        font = _fit_font(style.font[1], font_lines, int(style.height * SIZE), 0.4 * SIZE)
        blocks = _two_columns(left, right, title, font, rng.uniform(0.3, 0.4) * SIZE)
        image = finish(bg, distort(draw_blocks(bg, blocks, font, style), style, rng), style)
        return _record(index, "edge", case, expected, expected, image, style)
    if case == "lines in another order":
        expected, drawn = ("SUMMER FESTIVAL", "2024"), ("2024", "SUMMER FESTIVAL")
        image = render(drawn, style, rng, _centred_blocks)
        return _record(index, "edge", case, expected, drawn, image, style, truth=1.0)
    if case == "tiny text":
        expected = TEXTS[index % len(TEXTS)][:1]
        style.height = 0.03  # font size: capitals about 2% of the image height
        style.background = "gradient"
        image = render(expected, style, rng, _centred_blocks)
        return _record(index, "edge", case, expected, expected, image, style)
    if case == "nothing drawn":
        expected = TEXTS[index % len(TEXTS)][:1]
        bg, name = background(rng.choice(("photo", "gradient")), rng)
        style.extras["background"] = name
        return _record(index, "edge", case, expected, (), Image.fromarray(bg), style, truth=0.0)
    return cropped_item(index, rng, style)


def cropped_item(index: int, rng: random.Random, style: Style) -> dict[str, object]:
    """One line running off the right border: truth is the similarity to its visible part."""
    expected = ("GRAND OPENING TODAY",) if index % 2 else ("BEST COFFEE IN TOWN",)
    style.height = 0.1
    bg, name = background("gradient", rng)
    style.extras["background"] = name
    font = ImageFont.truetype(str(font_path(style.font[1])), int(style.height * SIZE))
    line = expected[0]
    cut = int(len(line) * rng.uniform(0.6, 0.75))
    while line[cut - 1] == " " or line[cut] == " ":
        cut += 1
    x = SIZE - 2 - font.getlength(line[:cut])  # the border falls between characters cut-1 and cut
    layer = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    fill, _ = _contrast(bg, (0, 200, SIZE, 260))
    ImageDraw.Draw(layer).text((x, 220), line, font=font, fill=(*fill, 255))
    image = finish(bg, layer, style)
    visible = (line[:cut],)
    return _record(index, "edge", "cropped at the border", expected, visible, image, style)


EDGE_CASES = (
    "two columns",
    "two columns",
    "title over columns",
    "lines in another order",
    "cropped at the border",
    "cropped at the border",
    "tiny text",
    "tiny text",
    "nothing drawn",
    "nothing drawn",
)


def _record(
    index: int,
    kind: str,
    case: str,
    expected: tuple[str, ...],
    drawn: tuple[str, ...],
    image: Image.Image,
    style: Style,
    truth: float | None = None,
) -> dict[str, object]:
    if truth is None:
        truth = similarity(normalise(" ".join(expected)), normalise(" ".join(drawn)))
    return {
        "index": index,
        "kind": kind,
        "case": case,
        "prompt": "a photo of a sign that says " + " and ".join(f'"{line}"' for line in expected),
        "expected_text": "\n".join(expected),
        "drawn_text": "\n".join(drawn),
        "truth": round(truth, 4),
        "font": style.font[0],
        "style": {
            "angle": round(style.angle, 2),
            "perspective": round(style.perspective, 3),
            "blur": round(style.blur, 2),
            "jpeg": style.jpeg,
            "outline": style.outline,
            "shadow": style.shadow,
            "glow": style.glow,
            "plate": style.plate,
            **style.extras,
        },
        "image": image,
    }


def items() -> list[dict[str, object]]:
    """All items, in index order: correct, wrong, edge."""
    plan = [("correct", None)] * 30 + [("wrong", None)] * 20 + [("edge", case) for case in EDGE_CASES]
    out = []
    for index, (kind, case) in enumerate(plan):
        rng = random.Random(SEED + index)
        out.append(edge_item(index, case, rng) if case else regular_item(index, kind, rng))
    return out


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    position: dict[str, int] = {}
    rows = []
    for item in items():
        image = item.pop("image")
        assert isinstance(image, Image.Image)
        kind = str(item["kind"])
        position[kind] = position.get(kind, -1) + 1
        item["split"] = "tuning" if position[kind] % 2 == 0 else "held-out"
        name = f"{item['index']:03d}-{kind}.jpg"
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=92)
        (out / name).write_bytes(buffer.getvalue())
        item["path"] = name
        item["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
        rows.append(item)
    lines = [json.dumps(row, ensure_ascii=False, sort_keys=True) for row in rows]
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    write(parser.parse_args().out)


if __name__ == "__main__":
    main()
