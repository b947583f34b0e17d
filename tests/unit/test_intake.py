"""The one door: Intake.offer samples, validates, journals, and counts every refusal once."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from driftmon.errors import JournalFull, Rejected, Shed
from driftmon.samples import Sample, SampleMeta
from driftmon.sources.intake import Intake, Offer
from driftmon.store import take_over_spool
from tests.imaging import huge_png_header, png_bytes
from tests.journaled import journal_intake, taken_in
from tests.spool_files import write_spool_pair

PNG = png_bytes(np.full((32, 32, 3), 200, np.uint8))


class Readings:
    """A ReadingSink that remembers what it was given."""

    def __init__(self) -> None:
        self.items: list[tuple[float, dict[str, str], dict[str, float | None]]] = []

    def record(self, ts: float, labels: Mapping[str, str], values: Mapping[str, float | None]) -> None:
        self.items.append((ts, dict(labels), dict(values)))


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def make_intake(tmp_path: Path, registry: CollectorRegistry, queue_size: int = 2) -> tuple[Intake, Readings]:
    """An intake over a journal of `queue_size` entries; nothing scores (nothing claims)."""
    readings = Readings()
    intake = journal_intake(
        tmp_path, registry, max_entries=queue_size, readings=readings, clock=lambda: 1000.0
    )
    return intake, readings


def count(registry: CollectorRegistry, source: str, outcome: str, version: str = "v1") -> float | None:
    labels = {"source": source, "model_version": version, "outcome": outcome}
    return registry.get_sample_value("driftmon_samples_total", labels)


def offer(intake: Intake, image: bytes | str = PNG, source: str = "push", **meta) -> object:
    return asyncio.run(intake.offer(Offer(source, image, SampleMeta(model_version="v1", **meta), 1.0)))


def test_admitted_sample_is_queued_with_its_source(tmp_path: Path, registry: CollectorRegistry) -> None:
    """An accepted offer is journaled as a Sample (id, source, clock) and is the rule signal shed=0."""
    intake, readings = make_intake(tmp_path, registry)
    admitted = offer(intake, source="probe")
    [sample] = taken_in(intake.journal)
    assert admitted.sampled is True and sample.id == admitted.id
    assert (sample.source, sample.received_at, sample.encoded) == ("probe", 1000.0, PNG)
    assert readings.items == [(1000.0, {"source": "probe", "model_version": "v1"}, {"shed": 0.0})]


def test_base64_text_is_decoded_strictly(tmp_path: Path, registry: CollectorRegistry) -> None:
    """Base64 text is decoded at the door; text that is not base64 is rejected and counted."""
    intake, _ = make_intake(tmp_path, registry)
    offer(intake, image=base64.b64encode(PNG).decode())
    assert taken_in(intake.journal)[0].encoded == PNG
    with pytest.raises(Rejected, match="not valid base64"):
        offer(intake, image="@@@")
    assert count(registry, "push", "rejected") == 1.0


def test_rejections_name_the_reason_and_are_counted_once(tmp_path: Path, registry: CollectorRegistry) -> None:
    """Not an image and too many pixels are Rejected with a reason label; each counts once."""
    intake, _ = make_intake(tmp_path, registry)
    with pytest.raises(Rejected) as unreadable:
        offer(intake, image=b"hello")
    with pytest.raises(Rejected) as too_large:
        offer(intake, image=huge_png_header())
    assert unreadable.value.reason == "unreadable" and "not an image" in str(unreadable.value)
    assert too_large.value.reason == "too_large"
    assert count(registry, "push", "rejected") == 2.0
    assert intake.journal.depth() == 0


def test_full_queue_sheds_counts_and_signals(tmp_path: Path, registry: CollectorRegistry) -> None:
    """A full journal raises Shed, counted once as shed and recorded as the rule signal shed=1."""
    intake, readings = make_intake(tmp_path, registry, queue_size=1)
    offer(intake, source="probe")
    with pytest.raises(Shed):
        offer(intake, source="probe")
    assert count(registry, "probe", "shed") == 1.0
    assert [values["shed"] for _, _, values in readings.items] == [0.0, 1.0]


def test_unsampled_offer_is_counted_and_never_decoded(tmp_path: Path, registry: CollectorRegistry) -> None:
    """Outside the source's sample ratio, the offer is counted unsampled before the image is read."""
    intake, readings = make_intake(tmp_path, registry)
    meta = SampleMeta(model_version="v1", request_id="r1")
    admitted = asyncio.run(intake.offer(Offer("push", b"not even an image", meta, sample_ratio=0.0)))
    assert admitted.sampled is False
    assert count(registry, "push", "unsampled") == 1.0
    assert intake.journal.depth() == 0 and readings.items == []


def test_a_spool_taken_over_into_a_full_journal_is_kept_not_shed(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    """A sample taken in before (the SIGTERM spool of an older release) goes into the journal the
    intake writes to, with its id; what a full journal cannot take stays in the spool for the next
    start (neither shed nor lost), while intake itself is refused JournalFull (429) and counted."""
    intake, _ = make_intake(tmp_path, registry, queue_size=2)
    spool = tmp_path / "spool"
    for index in range(3):
        write_spool_pair(
            spool, Sample(f"old{index}", "push", 900.0 + index, SampleMeta(model_version="v1"), None, PNG)
        )
    assert take_over_spool(spool, intake.journal) == 2
    assert sorted(path.name for path in spool.iterdir()) == ["old2.img", "old2.json"]
    with pytest.raises(JournalFull):
        offer(intake)
    assert count(registry, "push", "shed") == 1.0
    assert [sample.id for sample in taken_in(intake.journal)] == ["old0", "old1"]
