"""W8 (issue 13): a full intake journal answers 429 before anything is decoded or checked.

The capacity test (the journal's entries and bytes against its bounds, one cheap read) runs
first; a spy on the image checks proves they never ran for a refused offer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

import driftmon.sources.intake as intake_module
from driftmon.errors import JournalFull
from driftmon.metrics import Metrics
from driftmon.samples import SampleMeta
from driftmon.sources.intake import Intake, Offer, encoded_size
from driftmon.store.journal import Journal
from tests.imaging import png_bytes

PNG = png_bytes(np.full((32, 32, 3), 200, np.uint8))


class Spy:
    """Wraps intake's `image_bytes` (base64 decoding and every image check) and counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = intake_module.image_bytes

    def __call__(self, image: bytes | str, max_pixels: int) -> bytes:
        self.calls += 1
        return self.real(image, max_pixels)


def make(tmp_path: Path, max_entries: int, max_bytes: int) -> tuple[Intake, CollectorRegistry]:
    registry = CollectorRegistry()
    journal = Journal(tmp_path / "journal.db", max_entries, max_bytes, synchronous="NORMAL")
    return Intake(journal, Metrics(registry)), registry


def offer(intake: Intake, image: bytes | str) -> object:
    return asyncio.run(intake.offer(Offer("push", image, SampleMeta(model_version="v1"), 1.0)))


def test_full_journal_by_entries_refuses_before_any_image_check(tmp_path: Path, monkeypatch) -> None:
    intake, registry = make(tmp_path, max_entries=1, max_bytes=1 << 20)
    offer(intake, PNG)
    spy = Spy()
    monkeypatch.setattr(intake_module, "image_bytes", spy)
    with pytest.raises(JournalFull):
        offer(intake, b"not an image: a check would reject it, the capacity test comes first")
    assert spy.calls == 0
    labels = {"source": "push", "model_version": "v1", "outcome": "shed"}
    assert registry.get_sample_value("driftmon_samples_total", labels) == 1.0


def test_full_journal_by_bytes_refuses_before_any_image_check(tmp_path: Path, monkeypatch) -> None:
    intake, _ = make(tmp_path, max_entries=100, max_bytes=len(PNG) + 2048)
    offer(intake, PNG)
    spy = Spy()
    monkeypatch.setattr(intake_module, "image_bytes", spy)
    with pytest.raises(JournalFull):
        offer(intake, b"\x89PNG" + bytes(4096))
    assert spy.calls == 0


def test_an_offer_that_fits_is_checked_and_journaled(tmp_path: Path, monkeypatch) -> None:
    """The spy is live: where there is room the image check runs once and the sample is taken."""
    intake, _ = make(tmp_path, max_entries=2, max_bytes=1 << 20)
    spy = Spy()
    monkeypatch.setattr(intake_module, "image_bytes", spy)
    offer(intake, PNG)
    assert spy.calls == 1 and intake.journal.depth() == 1


def test_encoded_size_bounds_the_journaled_size() -> None:
    """base64 text counts 3/4 of its length (what it decodes to, at most), bytes their length."""
    import base64

    meta = SampleMeta(model_version="v1")
    as_text = encoded_size(Offer("push", base64.b64encode(PNG).decode(), meta))
    as_bytes = encoded_size(Offer("push", PNG, meta))
    assert as_bytes > len(PNG) and 0 <= as_text - as_bytes <= 2
