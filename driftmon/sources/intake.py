"""The one door: every sample enters the daemon through `Intake.offer`.

    intake = Intake(journal, metrics, readings=rules, max_pixels=..., on_journaled=supervisor.wake)
    admitted = await intake.offer(Offer(source, image, meta, sample_ratio))
        -> Admitted(id, sampled)    sampled=False: counted `unsampled`, the image is not even read
        raises Rejected             not base64, not an image, too many pixels (counted `rejected`)
        raises Shed                 the journal is full (JournalFull) or cannot be written
                                    (JournalUnavailable); counted `shed`
    intake.can_accept()             readiness: the journal can take a sample now

A sampled sample is validated and appended to the intake journal in one worker thread, off the
event loop: `Admitted(sampled=True)` means it is on disk. A full journal raises `JournalFull`
(429), one that cannot be written `JournalUnavailable` (503); both are `Shed`, counted `shed`.
`on_journaled()` then wakes the scoring supervisor.

Push (`POST /v1/samples`), the probes and (later) the tap all come through here and only map
`Rejected` and `Shed` to their own answers (HTTP 4xx or 429 + Retry-After, a dropped probe).
Every refusal is counted here, once, in `driftmon_samples_total{source, model_version, outcome}`
(the supervisor counts what happens after the journal: scored, failed, rejected at decoding),
and every sample offered to the journal is the rule signal `shed` (0 or 1).
"""

from __future__ import annotations

import binascii
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from driftmon.errors import ImageRejected, JournalUnavailable, Rejected, Shed
from driftmon.images.decode import check_image
from driftmon.metrics import Metrics
from driftmon.pipeline import is_sampled
from driftmon.samples import ReadingSink, Sample, SampleMeta
from driftmon.sources.bounds import check_meta
from driftmon.store.journal import Journal, meta_json

#: after the journal could not be written, intake reports not ready for this long
UNAVAILABLE_FOR = 5.0


@dataclass(frozen=True, slots=True)
class Offer:
    """A sample at the door, as its source received it."""

    #: where it comes from: push, probe, tap (a bounded label)
    source: str
    #: the encoded image, or its base64 text (decoded strictly here)
    image: bytes | str
    meta: SampleMeta
    #: the share of this source's samples to keep (decided by a hash of `meta.request_id`)
    sample_ratio: float = 1.0


@dataclass(frozen=True, slots=True)
class Admitted:
    """The answer to an offer that was not refused: the sample's id, and whether it was kept."""

    id: str
    sampled: bool


def image_bytes(image: bytes | str, max_pixels: int) -> bytes:
    """Base64 text decoded (strictly) to bytes, then checked without decoding pixels (pure)."""
    if isinstance(image, str):
        try:
            image = binascii.a2b_base64(image, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise Rejected(f"image_b64: not valid base64 ({exc})") from exc
    try:
        check_image(image, max_pixels)
    except ImageRejected as exc:
        raise Rejected(f"image: {exc}", exc.reason) from exc
    return image


def encoded_size(offer: Offer) -> int:
    """The bytes the offer will take in the journal, at most (base64 text: 3/4 of its length)."""
    image = len(offer.image) * 3 // 4 if isinstance(offer.image, str) else len(offer.image)
    return image + len(meta_json(offer.meta).encode())


class Intake:
    """Samples in: sampling, validation off the event loop, the journal; counts every outcome."""

    def __init__(
        self,
        journal: Journal,
        metrics: Metrics,
        *,
        readings: ReadingSink | None = None,
        max_pixels: int = 40_000_000,
        clock: Callable[[], float] = time.time,
        random: Callable[[], float] = random.random,
        on_journaled: Callable[[], None] = lambda: None,
    ) -> None:
        self.journal = journal
        self.on_journaled = on_journaled
        self._unavailable_at = float("-inf")
        self.metrics = metrics
        self.readings = readings
        self.max_pixels = max_pixels
        self.clock = clock
        self.random = random

    async def offer(self, offer: Offer) -> Admitted:
        """Sample, validate and journal (in a worker thread); raises Rejected or Shed."""
        sample_id = uuid.uuid4().hex
        meta = offer.meta
        try:
            check_meta(meta)  # storable and servable, bounded (driftmon/sources/bounds.py)
        except Rejected:
            self.metrics.count(offer.source, meta.model_version, "rejected")
            raise
        if not is_sampled(meta.request_id, offer.sample_ratio, self.random()):
            self.metrics.count(offer.source, meta.model_version, "unsampled")
            return Admitted(sample_id, sampled=False)
        await self._journal(sample_id, offer)
        return Admitted(sample_id, sampled=True)

    async def _journal(self, sample_id: str, offer: Offer) -> None:
        """Validate and append in one worker thread; the sample is on disk when this returns.

        Validation is base64, header, pixel limit and structure only: the scorer process decodes
        the pixels, so journaled samples cost their compressed size and the HTTP path stays cheap.
        """
        journal = self.journal

        def validate_and_append() -> Sample:
            journal.ensure_room(encoded_size(offer))  # a full journal: 429 before any decoding
            encoded = image_bytes(offer.image, self.max_pixels)
            sample = Sample(sample_id, offer.source, self.clock(), offer.meta, None, encoded)
            journal.append(sample)
            return sample

        labels = {"source": offer.source, "model_version": offer.meta.model_version}
        try:
            sample = await anyio.to_thread.run_sync(validate_and_append)
        except Rejected:
            self.metrics.count(offer.source, offer.meta.model_version, "rejected")
            raise
        except Shed as exc:
            if isinstance(exc, JournalUnavailable):
                self._unavailable_at = time.monotonic()
            self.metrics.count(offer.source, offer.meta.model_version, "shed")
            self._signal_shed(self.clock(), labels, True)
            raise
        self._signal_shed(sample.received_at, labels, False)
        self.on_journaled()

    def _signal_shed(self, ts: float, labels: dict[str, str], shed: bool) -> None:
        if self.readings is not None:
            self.readings.record(ts, labels, {"shed": 1.0 if shed else 0.0})

    def can_accept(self) -> bool:
        """Readiness: the journal can be read, has room, and no append failed on I/O lately."""
        if time.monotonic() - self._unavailable_at < UNAVAILABLE_FOR:
            return False
        try:
            return self.journal.depth() < self.journal.max_entries
        except JournalUnavailable:
            return False
