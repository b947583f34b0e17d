"""The second reader: RapidOCR on the wheel's own models, CPU only, never touching the network."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from driftmon.errors import ImageUnreadable, ModelUnavailable
from driftmon.scoring.rapid import (
    RapidOcrReader,
    offline_params,
    to_bgr,
    to_detections,
    wheel_model_dir,
)
from driftmon.scoring.text import score_text

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def sign(lines: list[str]) -> np.ndarray:
    image = Image.new("RGB", (512, 512), (250, 245, 230))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), 48)
    for row, line in enumerate(lines):
        draw.text((40, 160 + 80 * row), line, fill=(20, 20, 60), font=font)
    return np.asarray(image)


def test_params_pin_every_model_to_a_wheel_file_and_the_cpu() -> None:
    """Each model is an explicit path inside the wheel; no GPU provider is enabled."""
    params = offline_params(wheel_model_dir(), threads=2)
    for key in ("Det.model_path", "Rec.model_path", "Cls.model_path"):
        assert Path(params[key]).is_file()
        assert Path(params[key]).parent == wheel_model_dir()
    assert not any(value for key, value in params.items() if key.startswith("EngineConfig.onnxruntime.use_"))


def test_missing_model_is_model_unavailable(tmp_path: Path) -> None:
    """A folder without the wheel's models fails at start; nothing is fetched instead."""
    with pytest.raises(ModelUnavailable, match="missing RapidOCR models"):
        offline_params(tmp_path, threads=None)


def test_output_becomes_detections() -> None:
    """Boxes (4 points, clockwise from top-left), texts and scores map one to one."""
    boxes = np.array([[[1, 2], [30, 2], [30, 20], [1, 20]]], dtype=np.float32)
    [det] = to_detections(boxes, ("OPEN",), (0.97,))
    assert det.box == ((1.0, 2.0), (30.0, 2.0), (30.0, 20.0), (1.0, 20.0))
    assert (det.text, det.confidence) == ("OPEN", pytest.approx(0.97))
    assert to_detections(None, None, None) == []


def test_rgb_becomes_bgr() -> None:
    """RapidOCR takes ndarrays as BGR; grey is widened, RGBA loses alpha, floats are refused."""
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255
    assert to_bgr(rgb)[0, 0].tolist() == [0, 0, 255]
    assert to_bgr(np.zeros((2, 2), np.uint8)).shape == (2, 2, 3)
    assert to_bgr(np.zeros((2, 2, 4), np.uint8)).shape == (2, 2, 3)
    with pytest.raises(ImageUnreadable):
        to_bgr(np.zeros((2, 2, 3), np.float32))


@pytest.mark.slow
def test_starts_and_reads_with_the_network_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """With every connection refused, the reader loads and reads: nothing is downloaded."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    reader = RapidOcrReader(threads=2)
    assert reader.reader.text_rec.session.session.get_providers() == ["CPUExecutionProvider"]
    [detections] = reader.read([sign(["Café Olé", "50% OFF!"])])
    scores = score_text(["Café Olé", "50% OFF!"], detections, charset=reader.charset)
    assert scores.text_fidelity == 1.0
    assert scores.accents_folded is False  # this reader knows é
    assert reader.charset is not None and {"é", "ü", "ñ"} <= reader.charset
