"""On a CUDA host: the batched engine reads what readtext reads on the GPU, in little memory.

Weights come from $OCR_TEST_MODEL_DIR when set (e.g. the GPU kit's fp16 copies; readtext then
gets widened fp32 copies), else from the offline package.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from driftmon.scoring.engine import BatchedOcrEngine
from tests.ocr_fixtures import compare, equivalence_set, ocr_model_dir, readtext_reader
from tests.ocr_images import fonts_available, make_text_images

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
    pytest.mark.skipif(not fonts_available(), reason="needs Debian's fonts-dejavu"),
]


@pytest.fixture(scope="module")
def engine() -> BatchedOcrEngine:
    """The CUDA engine with its defaults (fp16 channels-last detector, fp32 recogniser)."""
    with BatchedOcrEngine(ocr_model_dir(), device="cuda") as eng:
        yield eng


def test_engine_text_equals_readtext_on_gpu(engine: BatchedOcrEngine, tmp_path: Path) -> None:
    """Same text as readtext on CUDA on ≥ 98% of images; fidelity within 0.01 on every one."""
    samples = equivalence_set()
    images = [sample.image for sample in samples]
    reference = readtext_reader(ocr_model_dir(), "cuda", tmp_path).read(images)
    result = compare(samples, reference, engine.read(images))
    assert result.identical_share >= 0.98, result.differences
    assert result.worst_fidelity_gap <= 0.01, result.differences
    read = [f for f in result.reference_fidelity if f is not None]
    assert sum(1 for f in read if f > 0.8) >= 0.8 * len(read)


def test_peak_memory_at_batch_32_of_512(engine: BatchedOcrEngine) -> None:
    """32 images of 512² in one read peak at ≤ 2 GiB of GPU memory, weights included."""
    images = [sample.image for sample in make_text_images(32, 512, seed=500)]
    engine.max_batch = 32
    engine.read(images[:4])  # autotuning and allocator warm-up
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    results = engine.read(images)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    assert len(results) == 32
    assert peak <= 2 * 2**30, f"peak {peak / 2**30:.2f} GiB"
    assert engine.oom_retries == 0
