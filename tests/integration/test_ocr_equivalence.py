"""The batched engine reads what EasyOCR's readtext reads, on CPU, on generated images."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftmon.scoring.engine import BatchedOcrEngine, locate_weights
from driftmon.scoring.engine.cli import app as models_app
from driftmon.scoring.ocr import make_ocr_engine
from driftmon.scoring.text import read_text
from tests.ocr_fixtures import compare, equivalence_set
from tests.ocr_images import fonts_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not fonts_available(), reason="needs Debian's fonts-dejavu"),
]


@pytest.fixture(scope="module")
def engine() -> BatchedOcrEngine:
    """The CPU engine, sub-batches of 8 so that one read() spans several forwards."""
    with BatchedOcrEngine(device="cpu", max_batch=8) as eng:
        yield eng


@pytest.fixture(scope="module")
def samples():  # type: ignore[no-untyped-def]
    """56 images: varied fonts, sizes, colours, backgrounds, 0–4 lines, some tilted."""
    return equivalence_set()


def test_engine_text_equals_readtext(engine, samples, ocr_reader) -> None:  # type: ignore[no-untyped-def]
    """Same text as readtext on ≥ 98% of images; text fidelity within 0.01 on every image."""
    images = [sample.image for sample in samples]
    reference = ocr_reader.read(images)
    candidate = engine.read(images)
    result = compare(samples, reference, candidate)
    assert len(samples) >= 50
    assert result.identical_share >= 0.98, result.differences
    assert result.worst_fidelity_gap <= 0.01, result.differences
    # the set exercises OCR: most images with text are read, and a few have none at all
    read = [f for f in result.reference_fidelity if f is not None]
    assert sum(1 for f in read if f > 0.8) >= 0.8 * len(read)
    assert sum(1 for s in samples if not s.lines) >= 3
    tilted = [det for dets in reference for det in dets if det.box[0][1] != det.box[1][1]]
    assert len(tilted) >= 5  # the tilted images do go through EasyOCR's rotated-box path
    assert engine.oom_retries == 0


def test_factory_kinds() -> None:
    """make_ocr_engine: auto and batched give the engine on CPU, readtext gives EasyOCR's."""
    assert make_ocr_engine("auto", device="cpu").name == "batched"
    assert make_ocr_engine("readtext", device="cpu").name == "readtext"


def test_fp16_export_cli_round_trip(tmp_path: Path, engine, samples) -> None:  # type: ignore[no-untyped-def]
    """`models export --fp16 DIR` writes checked half-size weights that read the same text."""
    result = CliRunner().invoke(models_app, ["export", "--fp16", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "SHA256SUMS" in result.output
    files = locate_weights(tmp_path)
    assert files.fp16
    size = files.detector.stat().st_size + files.recognizer.stat().st_size
    assert size < 52 * 2**20
    images = [sample.image for sample in samples[:12]]
    with BatchedOcrEngine(tmp_path, device="cpu") as half:
        texts = [read_text(d) for d in half.read(images)]
    assert texts == [read_text(d) for d in engine.read(images)]
