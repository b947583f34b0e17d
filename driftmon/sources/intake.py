"""The one door: every sample enters the daemon through `Intake.offer`.

    intake = Intake(worker, metrics, readings=rules, max_pixels=...)
    admitted = await intake.offer(Offer(source, image, meta, sample_ratio))
        -> Admitted(id, sampled)    sampled=False: counted `unsampled`, the image is not even read
        raises Rejected             not base64, not an image, too many pixels (counted `rejected`)
        raises Shed                 the scoring queue is full (counted `shed`)
    intake.requeue(sample)          a sample spooled at the last shutdown, queued again

Push (`POST /v1/samples`), the probes and (later) the tap all come through here and only map
`Rejected` and `Shed` to their own answers (HTTP 4xx or 429 + Retry-After, a dropped probe).
Every refusal is counted here, once, in `driftmon_samples_total{source, model_version, outcome}`
(the scoring worker counts what happens after the queue: scored, failed, rejected at decoding),
and every sample offered to the queue is the rule signal `shed` (0 or 1).
"""

from __future__ import annotations

import binascii
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from driftmon.errors import ImageRejected, Rejected, Shed
from driftmon.images import check_image
from driftmon.metrics import Metrics
from driftmon.pipeline import ScoringWorker, is_sampled
from driftmon.samples import ReadingSink, Sample, SampleMeta


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


class Intake:
    """Samples in: sampling, validation off the event loop, the queue; counts every outcome."""

    def __init__(
        self,
        worker: ScoringWorker,
        metrics: Metrics,
        *,
        readings: ReadingSink | None = None,
        max_pixels: int = 40_000_000,
        clock: Callable[[], float] = time.time,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.worker = worker
        self.metrics = metrics
        self.readings = readings
        self.max_pixels = max_pixels
        self.clock = clock
        self.random = random

    async def offer(self, offer: Offer) -> Admitted:
        """Sample, validate (in a worker thread) and queue; raises Rejected or Shed."""
        sample_id = uuid.uuid4().hex
        meta = offer.meta
        if not is_sampled(meta.request_id, offer.sample_ratio, self.random()):
            self.metrics.count(offer.source, meta.model_version, "unsampled")
            return Admitted(sample_id, sampled=False)
        try:
            # base64, header, pixel limit and structure only: the worker decodes the pixels, so
            # queued samples cost their compressed size and the HTTP path stays cheap
            encoded = await anyio.to_thread.run_sync(image_bytes, offer.image, self.max_pixels)
        except Rejected:
            self.metrics.count(offer.source, meta.model_version, "rejected")
            raise
        if not self.requeue(Sample(sample_id, offer.source, self.clock(), meta, None, encoded)):
            raise Shed("scoring queue is full")
        return Admitted(sample_id, sampled=True)

    def requeue(self, sample: Sample) -> bool:
        """Queue a sample already taken in (validated); False, counted as shed, when it is full."""
        queued = self.worker.submit(sample)
        if not queued:
            self.metrics.count(sample.source, sample.meta.model_version, "shed")
        if self.readings is not None:
            labels = {"source": sample.source, "model_version": sample.meta.model_version}
            self.readings.record(sample.received_at, labels, {"shed": 0.0 if queued else 1.0})
        return queued
