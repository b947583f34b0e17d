"""Unit tests of the batched OCR engine's parts, each against EasyOCR's own code where it has one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from easyocr.craft_utils import getDetBoxes_core
from easyocr.recognition import AlignCollate, adjust_contrast_grey, custom_mean
from easyocr.utils import CTCLabelConverter, get_image_list, group_text_box
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from driftmon.errors import ImageTooLarge, ImageUnreadable, ModelUnavailable
from driftmon.scoring.engine import boxes, detect, recognize, weights
from driftmon.scoring.engine.engine import (
    CHARACTERS,
    BatchedOcrEngine,
    cudnn_autotuning,
    reformat,
    run_halving,
)
from driftmon.scoring.engine.params import ReadParams

PARAMS = ReadParams()


# -- heat maps → boxes ----------------------------------------------------------------------


def blob_maps(seed: int, shape: tuple[int, int] = (96, 128)) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic CRAFT-like text and link maps: Gaussian characters along a few lines."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    text = np.zeros(shape, np.float32)
    link = np.zeros(shape, np.float32)
    for _ in range(rng.integers(1, 5)):
        y, x = rng.uniform(5, shape[0] - 5), rng.uniform(5, shape[1] / 2)
        sigma, slope = rng.uniform(1.5, 4.0), rng.uniform(-0.3, 0.3)
        for _ in range(rng.integers(1, 7)):
            text += rng.uniform(0.5, 1.0) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / sigma**2)
            step = rng.uniform(2.0, 3.2) * sigma
            link += 0.9 * np.exp(-((yy - y - slope * step / 2) ** 2 + (xx - x - step / 2) ** 2) / sigma**2)
            x, y = x + step, y + slope * step
    text += rng.uniform(0, 0.45, shape).astype(np.float32) * (rng.uniform(size=shape) < 0.01)
    return np.clip(text, 0, 1), np.clip(link, 0, 1)


@pytest.mark.parametrize("seed", range(40))
def test_heatmap_boxes_equal_easyocr(seed: int) -> None:
    """Boxes from the flag map equal EasyOCR's getDetBoxes_core on the same heat maps."""
    text, link = blob_maps(seed)
    expected, _, _ = getDetBoxes_core(text, link, 0.7, 0.4, 0.4)
    flags = boxes.flags_from_maps(text, link, PARAMS)
    got = boxes.heatmap_boxes(flags)
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_blob_maps_make_boxes() -> None:
    """The synthetic heat maps do exercise the comparison (most seeds give boxes)."""
    counts = [len(boxes.heatmap_boxes(boxes.flags_from_maps(*blob_maps(s), PARAMS))) for s in range(40)]
    assert sum(1 for count in counts if count > 0) >= 30


def test_flags_on_device_equal_numpy() -> None:
    """The detector's torch thresholds give the same flags as the numpy twin."""
    text, link = blob_maps(3)
    maps = torch.from_numpy(np.stack([text, link], axis=-1))[None]
    det = detect.Detector(torch.nn.Identity(), torch.device("cpu"), torch.float32, PARAMS)
    np.testing.assert_array_equal(det.flags(maps)[0], boxes.flags_from_maps(text, link, PARAMS))


def easyocr_groups(polys: list[list[int]]) -> tuple[list, list]:
    """EasyOCR's grouping and its min_size filter, as Reader.detect applies them."""
    arrays = [np.array(p, dtype=np.int32) for p in polys]
    horizontal, free = group_text_box(arrays, 0.1, 0.5, 0.5, 0.5, 0.1, True)
    horizontal = [b for b in horizontal if max(b[1] - b[0], b[3] - b[2]) > 20]
    free = [
        b for b in free
        if max(max(c[0] for c in b) - min(c[0] for c in b), max(c[1] for c in b) - min(c[1] for c in b)) > 20
    ]
    return horizontal, free


@st.composite
def word_polys(draw: st.DrawFn) -> list[list[int]]:
    """Axis-aligned and slanted word quads scattered over a few lines."""
    polys = []
    for _ in range(draw(st.integers(0, 8))):
        x, y = draw(st.integers(0, 400)), draw(st.integers(0, 300))
        w, h = draw(st.integers(5, 160)), draw(st.integers(5, 60))
        dy = draw(st.sampled_from([0, 0, 0, 1, 3, 12, 30]))
        polys.append([x, y, x + w, y + dy, x + w, y + dy + h, x, y + h])
    return polys


@settings(max_examples=300, deadline=None)
@given(word_polys())
def test_grouping_equals_easyocr(polys: list[list[int]]) -> None:
    """Line merging, margins, rotated boxes and the size filter equal EasyOCR's group_text_box."""
    horizontal, free = boxes.group_text_boxes(polys, PARAMS)
    expected_h, expected_f = easyocr_groups(polys)
    assert horizontal == [[int(v) for v in b] for b in expected_h]
    assert free == expected_f


def test_image_polys_scale_and_truncate() -> None:
    """Heat-map boxes scale to image pixels and truncate to int, as EasyOCR's do."""
    box = np.array([[1.25, 2.5], [10.75, 2.5], [10.75, 7.9], [1.25, 7.9]], np.float32)
    assert boxes.to_image_polys([box], 2.0) == [[2, 5, 21, 5, 21, 15, 2, 15]]


# -- detector input and buckets ---------------------------------------------------------------


def test_detector_input_pads_to_32_with_zeros() -> None:
    """An image is kept at its size and zero-padded to multiples of 32."""
    image = np.full((100, 70, 3), 200, np.uint8)
    prepared = detect.detector_input(image, PARAMS)
    assert prepared.shape == (128, 96)
    assert prepared.ratio == 1.0 and prepared.box_scale == 2.0
    assert (prepared.canvas[:100, :70] == 200).all() and prepared.canvas[100:].max() == 0


def test_detector_input_shrinks_to_canvas_size() -> None:
    """Images larger than canvas_size are shrunk first, and boxes scale back up."""
    image = np.zeros((300, 200, 3), np.uint8)
    prepared = detect.detector_input(image, ReadParams(canvas_size=150))
    assert prepared.shape == (160, 128)
    assert prepared.box_scale == pytest.approx(4.0)


def test_buckets_group_by_padded_shape() -> None:
    """Images that pad to the same shape share a bucket; buckets keep first-seen order."""
    sizes = [(100, 100), (512, 512), (97, 120), (500, 510), (64, 64)]
    inputs = [detect.detector_input(np.zeros((h, w, 3), np.uint8), PARAMS) for h, w in sizes]
    assert detect.buckets(inputs) == [[0, 2], [1, 3], [4]]


def test_batch_limit_honours_count_and_pixels() -> None:
    """The sub-batch is bounded by max_batch and by the pixel budget, and is at least 1."""
    assert detect.batch_limit((512, 512), 32, 8 * 512 * 512) == 8
    assert detect.batch_limit((256, 256), 4, 8 * 512 * 512) == 4
    assert detect.batch_limit((4096, 4096), 32, 8 * 512 * 512) == 1
    assert detect.sub_batches([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


def test_width_groups_narrowest_first() -> None:
    """Crops are grouped by padded width."""
    assert recognize.width_groups([192, 64, 192, 128, 64]) == [[1, 4], [3], [0, 2]]


# -- crops and recogniser input -----------------------------------------------------------------


def easyocr_tensor(grey: np.ndarray, horizontal: list, free: list, contrast: float = 0.0) -> np.ndarray:
    """What readtext feeds the recogniser for one box: get_image_list + AlignCollate."""
    image_list, max_width = get_image_list(horizontal, free, grey, model_height=64)
    collate = AlignCollate(imgH=64, imgW=int(max_width), keep_ratio_with_pad=True, adjust_contrast=contrast)
    return collate([Image.fromarray(image_list[0][1], "L")]).numpy()


BOXES = [
    [10, 150, 20, 50],  # wide
    [-5, 60, 30, 90],  # clipped at the left
    [40, 70, 10, 140],  # taller than wide
    [100, 239, 150, 190],  # near the bottom-right corner
]


@pytest.mark.parametrize("box", BOXES)
def test_horizontal_crop_input_equals_easyocr(box: list[int]) -> None:
    """A line box gives the recogniser exactly readtext's tensor, padded width included."""
    grey = np.random.default_rng(1).integers(0, 256, (200, 240), dtype=np.uint8)
    (crop,) = recognize.crops_of(0, grey, [box], [], PARAMS)
    mine = recognize.network_input(crop.pixels, crop.width, 64)[None]
    np.testing.assert_array_equal(mine, easyocr_tensor(grey, [box], []))


def test_free_crop_input_equals_easyocr() -> None:
    """A rotated box is straightened and prepared exactly as readtext does."""
    grey = np.random.default_rng(2).integers(0, 256, (200, 240), dtype=np.uint8)
    quad = [[20.5, 40.2], [180.3, 70.9], [175.0, 101.4], [15.2, 71.1]]
    (crop,) = recognize.crops_of(0, grey, [], [quad], PARAMS)
    mine = recognize.network_input(crop.pixels, crop.width, 64)[None]
    np.testing.assert_array_equal(mine, easyocr_tensor(grey, [], [quad]))
    assert crop.box == tuple(tuple(p) for p in quad)


@pytest.mark.parametrize("spread", [5, 40, 200])
def test_contrast_stretch_equals_easyocr(spread: int) -> None:
    """The low-contrast retry's stretch equals adjust_contrast_grey (and leaves good crops)."""
    pixels = np.random.default_rng(spread).integers(100, 100 + spread, (64, 150)).astype(np.uint8)
    np.testing.assert_array_equal(recognize.stretch_contrast(pixels, 0.5), adjust_contrast_grey(pixels, 0.5))


def test_grey_uses_easyocr_channel_order() -> None:
    """RGB input is greyed with OpenCV's BGR weights, as EasyOCR does with numpy input."""
    pixel = np.array([[[255, 0, 0]]], np.uint8)
    assert reformat(pixel)[1][0, 0] == round(0.114 * 255)


def test_reformat_rejects_bad_input() -> None:
    """Non-uint8 arrays and odd channel counts are ImageUnreadable."""
    with pytest.raises(ImageUnreadable):
        reformat(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ImageUnreadable):
        reformat(np.zeros((4, 4, 2), np.uint8))
    assert reformat(np.zeros((4, 4), np.uint8))[0].shape == (4, 4, 3)


# -- CTC decoding -------------------------------------------------------------------------------


def peaked_logits(seed: int, n: int = 6, t: int = 24, classes: int = len(CHARACTERS) + 1) -> torch.Tensor:
    """Logits with one clear winner per step, blanks and repeats included."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (n, t, classes)).astype(np.float32)
    winners = rng.choice([0, 0, 0, 5, 5, 20, 33, 60, 61], size=(n, t))
    np.put_along_axis(logits, winners[..., None], rng.uniform(2, 9, (n, t, 1)).astype(np.float32), axis=2)
    logits[0] = 0.0
    logits[0, :, 0] = 5.0  # an all-blank row: empty text, confidence 0
    return torch.from_numpy(logits)


def easyocr_decode(logits: torch.Tensor, ignore_idx: list[int]) -> list[tuple[str, float]]:
    """recognizer_predict's greedy branch on the same logits."""
    converter = CTCLabelConverter(CHARACTERS, {}, {})
    probs = torch.softmax(logits, dim=2).numpy()
    probs[:, :, ignore_idx] = 0.0
    probs = probs / np.expand_dims(probs.sum(axis=2), axis=-1)
    index = torch.from_numpy(probs).max(2)[1].view(-1).numpy()
    texts = converter.decode_greedy(index, torch.IntTensor([logits.shape[1]] * logits.shape[0]))
    out = []
    for text, values, indices in zip(texts, probs.max(axis=2), probs.argmax(axis=2), strict=True):
        kept = values[indices != 0]
        out.append((text, float(custom_mean(kept if len(kept) else np.array([0])))))
    return out


@pytest.mark.parametrize("ignored", [[], [11, 12]])
@pytest.mark.parametrize("seed", range(5))
def test_ctc_decode_equals_easyocr(seed: int, ignored: list[int]) -> None:
    """Greedy CTC texts equal EasyOCR's and confidences match to float precision."""
    logits = peaked_logits(seed)
    got = recognize.CtcDecoder(CHARACTERS, ignored).decode(logits)
    expected = easyocr_decode(logits, ignored)
    assert [r.text for r in got] == [text for text, _ in expected]
    for reading, (_, confidence) in zip(got, expected, strict=True):
        assert reading.confidence == pytest.approx(confidence, rel=1e-5, abs=1e-12)
    assert got[0] == recognize.Reading("", 0.0)


def test_ctc_collapses_repeats_and_blanks() -> None:
    """'a a - a b' decodes to 'aab': repeats collapse, a blank separates equal letters."""
    classes = len(CHARACTERS) + 1
    a, b = CHARACTERS.index("a") + 1, CHARACTERS.index("b") + 1
    logits = torch.full((1, 5, classes), -10.0)
    for step, cls in enumerate([a, a, 0, a, b]):
        logits[0, step, cls] = 10.0
    assert recognize.CtcDecoder(CHARACTERS, []).decode(logits)[0].text == "aab"


def test_english_ignores_no_class() -> None:
    """english_g2's classes are all allowed for ['en'], so readtext zeroes none of them."""
    assert recognize.ignored_classes(CHARACTERS, CHARACTERS[:45]) == []
    assert recognize.ignored_classes("ab€", "") == [3]


def test_retry_keeps_first_only_when_strictly_better() -> None:
    """On equal confidence the contrast-stretched reading wins, as in EasyOCR."""
    first, second = recognize.Reading("a", 0.05), recognize.Reading("b", 0.05)
    assert recognize.better(first, second) is second
    assert recognize.better(recognize.Reading("a", 0.06), second).text == "a"


# -- weights ------------------------------------------------------------------------------------


def fake_weights(directory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Two tiny state dicts under EasyOCR's file names; returns their MD5 sums."""
    directory.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    for name in (weights.DETECTOR, weights.RECOGNIZER):
        state = {
            "module.conv.weight": torch.randn(4, 3, generator=gen),
            "module.bn.num_batches_tracked": torch.tensor(7),
        }
        torch.save(state, directory / f"{name}.pth")
    return {p.name: weights.file_digest(p, "md5") for p in directory.glob("*.pth")}


def test_fp16_export_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Exported fp16 copies verify against their manifest and load back as fp32 halves."""
    sums = fake_weights(tmp_path / "src")
    written = weights.export_fp16(tmp_path / "src", tmp_path / "out", md5=sums)
    assert sorted(p.name for p in written) == [
        "SHA256SUMS", "craft_mlt_25k.fp16.pth", "english_g2.fp16.pth",
    ]
    files = weights.locate_weights(tmp_path / "out")
    assert files.fp16
    original = weights.load_state_dict(tmp_path / "src" / "craft_mlt_25k.pth")
    copy = weights.load_state_dict(files.detector)
    assert set(copy) == {"conv.weight", "bn.num_batches_tracked"}
    assert copy["conv.weight"].dtype == torch.float32
    torch.testing.assert_close(copy["conv.weight"], original["conv.weight"].half().float(), rtol=0, atol=0)
    assert copy["bn.num_batches_tracked"].item() == 7


def test_tampered_fp16_copy_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A changed byte or a missing manifest makes the fp16 copy unusable."""
    sums = fake_weights(tmp_path / "src")
    weights.export_fp16(tmp_path / "src", tmp_path / "out", md5=sums)
    target = tmp_path / "out" / "english_g2.fp16.pth"
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable, match="sha256"):
        weights.locate_weights(tmp_path / "out")
    (tmp_path / "out" / "SHA256SUMS").unlink()
    with pytest.raises(ModelUnavailable, match="manifest"):
        weights.locate_weights(tmp_path / "out")


def test_fp32_md5_mismatch_and_missing_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """fp32 files must match the published MD5; an empty directory names what it needs."""
    sums = fake_weights(tmp_path / "src")
    assert not weights.locate_weights(tmp_path / "src", md5=sums).fp16
    with pytest.raises(ModelUnavailable, match="md5"):
        weights.locate_weights(tmp_path / "src", md5=dict.fromkeys(sums, "0" * 32))
    with pytest.raises(ModelUnavailable, match="needs"):
        weights.locate_weights(tmp_path)


def test_manifest_bad_line_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A malformed manifest line is reported with its file and line number."""
    manifest = tmp_path / "SHA256SUMS"
    manifest.write_text("a" * 64 + "  x.pth\nnot a line\n")
    with pytest.raises(ModelUnavailable, match="SHA256SUMS:2"):
        weights.read_manifest(manifest)


def test_published_md5_names_both_files() -> None:
    """The MD5 sums come from easyocr.config for both weight files."""
    assert set(weights.published_md5()) == {"craft_mlt_25k.pth", "english_g2.pth"}


# -- out-of-memory handling -----------------------------------------------------------------------


def oom_above(limit: int, calls: list[list[int]]):  # type: ignore[no-untyped-def]
    def run(chunk: list[int]) -> None:
        calls.append(chunk)
        if len(chunk) > limit:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    return run


def test_run_halving_halves_until_it_fits() -> None:
    """OOM halves the sub-batch and retries; every item is run exactly once successfully."""
    calls: list[list[int]] = []
    retries = run_halving(oom_above(3, calls), list(range(10)), 16)
    assert retries == 3
    assert [len(chunk) for chunk in calls[:4]] == [10, 8, 4, 2]
    done = [chunk for chunk in calls if len(chunk) <= 3]
    assert [i for chunk in done for i in chunk] == list(range(10))
    assert max(len(chunk) for chunk in done) == 2


def test_run_halving_gives_up_on_a_single_item() -> None:
    """An item that fails alone raises ImageTooLarge instead of looping."""
    with pytest.raises(ImageTooLarge):
        run_halving(oom_above(0, []), [0, 1], 4)


def test_cudnn_autotuning_is_restored() -> None:
    """The recogniser's autotuning switch is put back even when its body raises."""
    before = torch.backends.cudnn.benchmark
    with pytest.raises(RuntimeError), cudnn_autotuning(not before):
        assert torch.backends.cudnn.benchmark is (not before)
        raise RuntimeError("boom")
    assert torch.backends.cudnn.benchmark is before


@pytest.fixture(scope="module")
def engine() -> BatchedOcrEngine:
    """A CPU engine over the offline weights (checksums skipped: speed)."""
    with BatchedOcrEngine(device="cpu", verify_weights=False) as eng:
        yield eng


def small_images() -> list[np.ndarray]:
    """A few small images with dark bars on light grounds (text-like blobs)."""
    images = []
    for shade in (250, 230, 210, 190, 170):
        image = np.full((64, 96, 3), shade, np.uint8)
        image[20:34, 10:80] = 20
        images.append(image)
    return images


def test_engine_survives_injected_oom(engine: BatchedOcrEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A detector forward failing above 2 images halves the batch; results are unchanged."""
    images = small_images()
    expected = engine.read(images)
    forward = engine._detector_forward
    sizes: list[int] = []

    def failing(canvases: list[np.ndarray]) -> np.ndarray:
        sizes.append(len(canvases))
        if len(canvases) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return forward(canvases)

    monkeypatch.setattr(engine, "_detector_forward", failing)
    before = engine.oom_retries
    engine.max_batch = 8
    assert engine.read(images) == expected
    assert engine.oom_retries - before == 2
    assert sizes[:3] == [5, 4, 2]


def test_engine_raises_when_one_image_does_not_fit(
    engine: BatchedOcrEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If even one image runs out of memory the engine raises ImageTooLarge, not a CUDA error."""

    def always(canvases: list[np.ndarray]) -> np.ndarray:
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    monkeypatch.setattr(engine, "_detector_forward", always)
    with pytest.raises(ImageTooLarge):
        engine.read(small_images()[:1])


def test_engine_reports_stage_times_and_empty_batches(engine: BatchedOcrEngine) -> None:
    """read([]) is empty; each read records detect/postprocess/recognize seconds."""
    assert engine.read([]) == []
    engine.read(small_images()[:2])
    assert set(engine.last_stage_seconds) == {"detect", "postprocess", "recognize"}
    assert all(seconds >= 0 for seconds in engine.last_stage_seconds.values())
    assert engine.name == "batched" and engine.device == "cpu"


# -- package surface ----------------------------------------------------------------------------


def test_public_names_resolve_and_are_sorted() -> None:
    """The package's __all__ is sorted and every name resolves on first use."""
    import driftmon.scoring.engine as package

    assert package.__all__ == sorted(package.__all__)
    assert all(getattr(package, name) is not None for name in package.__all__)
    with pytest.raises(AttributeError):
        _ = package.NoSuchName


def test_models_cli_loads_without_torch() -> None:
    """`driftmon models` is registered on the main CLI without importing torch."""
    import subprocess
    import sys

    code = "import sys, driftmon.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
