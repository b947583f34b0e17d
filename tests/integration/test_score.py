"""Real EasyOCR scoring: rendered text reads back, errors cost fidelity, photos stay silent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rapidfuzz.distance import Levenshtein

from driftmon.scoring.scorer import Scorer
from tests.imaging import huge_png_header, png_bytes, render_lines

pytestmark = pytest.mark.slow

PAGE_TEXT = [
    "Region-based segmentation",
    "Let us first determine markers of the coins and the",
    "background. These markers are pixels that we can label",
    "unambiguously as either object or background. Here,",
    "the markers are found at the two extreme parts of the",
    "histogram of grey values:",
]


@pytest.fixture(scope="module")
def scorer(ocr_reader) -> Scorer:
    return Scorer(ocr_reader)


def test_open_24_hours_reads_back(scorer: Scorer) -> None:
    """Rendered 'OPEN 24 HOURS' scores fidelity ≥ 0.95 against the prompt's quoted text."""
    result = scorer.score(render_lines(["OPEN 24 HOURS"]), ["OPEN 24 HOURS"])
    assert result.text.text_fidelity is not None
    assert result.text.text_fidelity >= 0.95


def test_three_changed_letters_track_true_similarity(scorer: Scorer) -> None:
    """With three letters changed in the image, fidelity is within 0.1 of the true similarity."""
    expected, rendered = "OPEN 24 HOURS", "OPFN 24 HQUKS"
    truth = Levenshtein.normalized_similarity(expected.casefold(), rendered.casefold())
    result = scorer.score(render_lines([rendered]), [expected])
    assert result.text.text_fidelity is not None
    assert abs(result.text.text_fidelity - truth) <= 0.1


def test_blank_image_when_text_expected_scores_zero(scorer: Scorer) -> None:
    """A blank image when text is expected has fidelity 0."""
    blank = np.full((512, 512, 3), 255, np.uint8)
    assert scorer.score(blank, ["OPEN 24 HOURS"]).text.text_fidelity == 0.0


@pytest.mark.parametrize("name", ["chelsea", "coffee", "camera", "astronaut", "rocket"])
def test_photos_without_text_hallucinate_nothing(scorer: Scorer, name: str) -> None:
    """scikit-image's photos without text read no text (hallucination 0)."""
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    result = scorer.score(np.ascontiguousarray(image[..., :3]), [])
    assert result.text.ocr_text == ""
    assert result.text.hallucination == 0.0


def test_real_photo_of_printed_page(scorer: Scorer) -> None:
    """A real photo of a printed page (scikit-image's `page`) reads in order, words right."""
    import skimage.data

    page = np.stack([skimage.data.page()] * 3, axis=-1)
    result = scorer.score(page, PAGE_TEXT)
    assert result.text.word_recall is not None and result.text.word_recall >= 0.9
    assert result.text.text_fidelity is not None and result.text.text_fidelity >= 0.85
    assert result.text.ocr_text.startswith("Region-based segmentation Let")


def _write_inputs(directory: Path) -> dict[str, Path]:
    text = render_lines(["OPEN"], size=(256, 128), font_size=40, origin=(20, 30))
    files = {
        "good.png": png_bytes(text),
        "truncated.png": png_bytes(text)[:400],
        "notes.png": b"this is a text file, not a picture\n",
        "empty.png": b"",
        "huge.png": huge_png_header(),
        "grey.png": png_bytes(Image.fromarray(text).convert("L")),
        "rgba.png": png_bytes(Image.fromarray(text).convert("RGBA")),
        "palette.png": png_bytes(Image.fromarray(text).convert("P")),
        "sixteen.png": png_bytes(Image.fromarray(text[..., 0].astype(np.uint16) * 257)),
        "photo.jpg": png_bytes(text, "JPEG", quality=95),
        "photo.webp": png_bytes(text, "WEBP", quality=95),
        "anim.gif": png_bytes(
            Image.fromarray(text).convert("P"),
            "GIF",
            save_all=True,
            append_images=[Image.new("P", (256, 128), 0)],
        ),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = directory / name
        paths[name].write_bytes(data)
    return paths


def test_cli_scores_good_files_and_names_each_bad_one(tmp_path: Path) -> None:
    """`driftmon score --json` scores every readable file and gives one error line per bad file."""
    paths = _write_inputs(tmp_path)
    overlays = tmp_path / "overlays"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftmon",
            "score",
            *map(str, paths.values()),
            "--expect",
            "OPEN",
            "--json",
            "--device",
            "cpu",
            "--overlay",
            str(overlays),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("driftmon:")]
    rejected = {
        "truncated.png": "truncated",
        "notes.png": "not an image",
        "empty.png": "empty",
        "huge.png": "exceeds the limit",
    }
    assert len(errors) == len(rejected)
    for name, reason in rejected.items():
        assert any(str(paths[name]) in line and reason in line for line in errors), (name, errors)
    assert "Traceback" not in proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {Path(r["path"]).name for r in records} == set(paths) - set(rejected)
    for record in records:
        assert {
            "path",
            "expected_text",
            "ocr_text",
            "text_fidelity",
            "word_f1",
            "exact_match",
            "hallucination",
        } <= record.keys()
        assert record["text_fidelity"] >= 0.95, record
        assert {"margin_violation", "safe_area_ratio", "legibility", "blank", "sharpness"} <= record.keys()
    assert (overlays / "good.overlay.png").is_file()
