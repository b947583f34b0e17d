"""The scoring worker: one thread owns the models and the GPU; a bounded queue feeds it batches.

The HTTP loop only calls `submit`, which never blocks: a full queue sheds the sample (the caller
answers 429). Scored samples go to the store, the metrics, the rule engine's sink and, when
failing, to the artifacts directory. On shutdown the worker keeps scoring until the grace ends;
whatever is still queued then is spooled to disk and scored after the next start.
"""

from __future__ import annotations

import gc
import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import structlog

from driftmon.artifacts import Artifacts
from driftmon.errors import DriftmonError, ImageRejected
from driftmon.images import decode_image
from driftmon.metrics import Metrics
from driftmon.prompts import expected_lines
from driftmon.samples import ReadingSink, Sample, ScoredSample
from driftmon.scoring.scorer import Scorer, ScoreResult, detections_json
from driftmon.store import Store, reading_values
from driftmon.store.spool import Spool as Spool  # re-exported: the daemon imports it from here

log = structlog.get_logger("driftmon.pipeline")

#: after the grace, how long shutdown waits for the one batch already being scored
BATCH_FINISH_LIMIT = 120.0


def is_sampled(request_id: str | None, ratio: float, fallback: float) -> bool:
    """Decide sampling from a hash of `request_id`, so a retried request is sampled alike.

    Without a request id the caller's `fallback` (a uniform random number) decides.
    """
    if ratio >= 1.0:
        return True
    if ratio <= 0.0:
        return False
    if request_id is None:
        return fallback < ratio
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < ratio


def is_failing(scores: dict[str, float | None], failing_below: float) -> bool:
    """A sample worth a picture: low fidelity, text in the margin, or a blank frame."""
    fidelity = scores.get("text_fidelity")
    return (
        (fidelity is not None and fidelity < failing_below)
        or scores.get("margin_violation") == 1.0
        or scores.get("blank") == 1.0
    )


class ScoringWorker:
    """Owns the scorer (built in its own thread, so model loading never blocks the server)."""

    def __init__(
        self,
        make_scorer: Callable[[], Scorer],
        store: Store,
        metrics: Metrics,
        artifacts: Artifacts | None,
        sink: ReadingSink | None = None,
        queue_size: int = 256,
        queue_max_bytes: int = 64 * 1024 * 1024,
        batch_size: int = 16,
        failing_below: float = 0.85,
        max_pixels: int = 40_000_000,
        cpu_threads: int | None = None,
        clock: Callable[[], float] = time.time,
        observers: Sequence[Callable[[str, str, Mapping[str, float | None]], None]] = (),
        on_embedding: Callable[[str, np.ndarray], None] | None = None,
    ) -> None:
        self._make_scorer = make_scorer
        self.store = store
        self.metrics = metrics
        self.artifacts = artifacts
        self.sink = sink
        self.batch_size = batch_size
        self.failing_below = failing_below
        self.max_pixels = max_pixels
        self.cpu_threads = cpu_threads
        self.clock = clock
        self.observers = tuple(observers)
        self.on_embedding = on_embedding
        self.queue: queue.Queue[Sample] = queue.Queue(maxsize=queue_size)
        self.queue_max_bytes = queue_max_bytes
        self._queued_bytes = 0
        self._bytes_lock = threading.Lock()
        self.ready = threading.Event()
        self.load_error: str | None = None
        self._stop = threading.Event()
        self._deadline = float("inf")
        self._thread = threading.Thread(target=self._run, name="driftmon-scoring", daemon=True)
        self.scorer: Scorer | None = None
        metrics.queue_capacity.set(queue_size)

    def start(self) -> None:
        self._thread.start()

    def submit(self, sample: Sample) -> bool:
        """Queue a sample without blocking; False (and counted as shed) when the queue is full,
        by count or by the bytes its samples hold."""
        try:
            self._reserve(sample)
            self.queue.put_nowait(sample)
        except queue.Full:
            self._release(sample)
            self.metrics.count(sample.source, sample.meta.model_version, "shed")
            self._record_intake(sample, shed=True)
            return False
        self.metrics.queue_depth.set(self.queue.qsize())
        self._record_intake(sample, shed=False)
        return True

    @staticmethod
    def _size(sample: Sample) -> int:
        return len(sample.encoded) + (0 if sample.image is None else sample.image.nbytes)

    def _reserve(self, sample: Sample) -> None:
        with self._bytes_lock:
            size = self._size(sample)
            if self._queued_bytes and self._queued_bytes + size > self.queue_max_bytes:
                raise queue.Full
            self._queued_bytes += size

    def _release(self, sample: Sample) -> None:
        with self._bytes_lock:
            self._queued_bytes -= self._size(sample)

    def _record_intake(self, sample: Sample, shed: bool) -> None:
        """The rule signal `shed` (0 or 1) per sample offered to the queue."""
        if self.sink is not None:
            labels = {"source": sample.source, "model_version": sample.meta.model_version}
            self.sink.record(sample.received_at, labels, {"shed": 1.0 if shed else 0.0})

    def stop(self, grace_seconds: float, spool: Spool | None = None) -> int:
        """Stop taking work; score until the grace ends, then spool what is left. Returns spooled count."""
        self._deadline = time.monotonic() + grace_seconds
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=grace_seconds)
        if self._thread.is_alive():
            # a batch is in flight: torch cannot be interrupted, and exiting under a running
            # forward aborts the process, so let that one batch finish (bounded)
            log.warning("finishing_batch_in_flight", max_wait_seconds=BATCH_FINISH_LIMIT)
            self._thread.join(timeout=BATCH_FINISH_LIMIT)
        left = 0
        while True:
            try:
                sample = self.queue.get_nowait()
            except queue.Empty:
                break
            if spool is not None:
                spool.save(sample)
                left += 1
        return left

    def _set_cpu_threads(self) -> None:
        import torch

        threads = self.cpu_threads
        if threads is None and not torch.cuda.is_available():
            # on a CPU-only pod, leave a core to the HTTP loop so intake stays fast while scoring
            threads = max(1, (os.cpu_count() or 2) - 1)
        if threads is not None:
            torch.set_num_threads(threads)

    def _run(self) -> None:
        self._set_cpu_threads()
        try:
            self.scorer = self._make_scorer()
            self._warm_up(self.scorer)
            # the models left millions of long-lived objects: keep the cyclic GC from re-scanning
            # them on every full collection
            gc.freeze()
        except DriftmonError as exc:
            self.load_error = str(exc)
            log.error("scorer_load_failed", error=str(exc))
            return
        self.ready.set()
        self.metrics.ready.set(1)
        while not (self._stop.is_set() and (self.queue.empty() or time.monotonic() > self._deadline)):
            batch = self._take_batch()
            if batch:
                self._score_safely(batch)

    def _warm_up(self, scorer: Scorer) -> None:
        """Score one synthetic 512² image before reporting ready, so the first real sample does not
        pay for lazy initialisation (a full batch would delay readiness by seconds on a CPU)."""
        from PIL import Image, ImageDraw

        canvas = Image.new("RGB", (512, 512), "white")
        ImageDraw.Draw(canvas).rectangle((40, 200, 472, 280), outline="black", width=8)
        image = np.asarray(canvas)
        scorer.score_batch([image], [("WARM UP",)])

    def _take_batch(self) -> list[Sample]:
        try:
            first = self.queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self.batch_size:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        for sample in batch:
            self._release(sample)
        self.metrics.queue_depth.set(self.queue.qsize())
        self.metrics.batch_size.observe(len(batch))
        return batch

    def _decoded(self, batch: Sequence[Sample]) -> list[Sample]:
        """The batch with every image decoded; undecodable samples are counted and dropped."""
        ready = []
        for sample in batch:
            if sample.image is not None:
                ready.append(sample)
                continue
            try:
                ready.append(replace(sample, image=decode_image(sample.encoded, self.max_pixels)))
            except ImageRejected as exc:
                log.warning("sample_rejected", id=sample.id, source=sample.source, reason=str(exc))
                self.metrics.count(sample.source, sample.meta.model_version, "rejected")
        return ready

    def _score_safely(self, queued: Sequence[Sample]) -> None:
        assert self.scorer is not None
        batch = self._decoded(queued)
        if not batch:
            return
        try:
            results = self.scorer.score_batch(
                [s.image for s in batch if s.image is not None],
                [expected_lines(s.meta.prompt, s.meta.expected_text) for s in batch],
                [s.meta for s in batch],
            )
        except Exception as exc:
            log.error("scoring_failed", error=repr(exc), batch=len(batch))
            for sample in batch:
                self.metrics.count(sample.source, sample.meta.model_version, "failed")
            return
        for sample, result in zip(batch, results, strict=True):
            self._finish(sample, result)

    def _finish(self, sample: Sample, result: ScoreResult) -> None:
        scores = dict(result.scores)
        failing = is_failing(scores, self.failing_below)
        paths = self._keep_pictures(sample, result) if failing else (None, None)
        scored = ScoredSample(
            id=sample.id,
            source=sample.source,
            received_at=sample.received_at,
            scored_at=self.clock(),
            meta=sample.meta,
            scores=scores,
            ocr_text=result.text.ocr_text,
            expected_text=result.text.expected_text,
            evidence=self._evidence(result),
            failing=failing,
            image_path=paths[0],
            overlay_path=paths[1],
        )
        self._store(scored)
        version = self.metrics.observe_scores(
            sample.source, sample.meta.model_version, scores, sample.meta.latency_seconds
        )
        for observe in self.observers:
            observe(sample.source, version, scores)
        if self.on_embedding is not None and result.embedding is not None:
            self.on_embedding(version, result.embedding)
        if self.sink is not None:
            self.sink.record(scored.received_at, scored.labels, reading_values(scored))

    @staticmethod
    def _evidence(result: ScoreResult) -> dict[str, Any]:
        return {**result.evidence, "detections": detections_json(result.detections)}

    def _keep_pictures(self, sample: Sample, result: ScoreResult) -> tuple[str | None, str | None]:
        if self.artifacts is None:
            return None, None
        try:
            assert sample.image is not None
            paths = self.artifacts.save(sample.id, sample.image, result)
        except OSError as exc:
            log.warning("artifact_write_failed", id=sample.id, error=str(exc))
            return None, None
        self.metrics.artifacts.inc()
        return paths

    def _store(self, scored: ScoredSample) -> None:
        failures_before = self.store.write_failures
        try:
            self.store.add(scored)
        except DriftmonError as exc:
            log.error("store_write_lost", id=scored.id, error=str(exc))
        finally:
            self.metrics.store_errors.inc(self.store.write_failures - failures_before)
