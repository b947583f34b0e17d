"""Shared fixtures: one real EasyOCR reader per test session (CPU here, CUDA where present)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """Each test starts from structlog's defaults, whatever an earlier CLI test configured."""
    import structlog

    import driftmon.logs

    driftmon.logs.CACHE_LOGGERS = False
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def ocr_reader(tmp_path_factory: pytest.TempPathFactory):
    """The real EasyOCR reader (offline weights), loaded once for the whole session."""
    from driftmon.scoring.ocr import EasyOcrReader

    return EasyOcrReader(device="cpu", work_dir=tmp_path_factory.mktemp("easyocr"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu` tests where CUDA is absent."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
