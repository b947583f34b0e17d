"""The scoring worker: one thread owns the models and the GPU; a bounded queue feeds it batches.

`Intake` (driftmon.sources.intake) is the only caller of `submit`, which never blocks: a full
queue returns False and the intake sheds the sample. Scored samples go to the store, the metrics,
the artifacts directory when failing, and then to every `ScoreListener` (composition metrics,
embedding drift, the rule engine's readings); a listener that raises is logged and counted
(`driftmon_listener_errors_total`) and the others still hear the sample. On shutdown the worker
keeps scoring until the grace ends; whatever is still queued then is spooled to disk and scored
after the next start.
"""

from __future__ import annotations

import gc
import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import structlog
from prometheus_client import Counter

from driftmon.artifacts import Artifacts
from driftmon.errors import DriftmonError, ImageRejected
from driftmon.expectations import expected_lines
from driftmon.images import decode_image
from driftmon.metrics import Metrics
from driftmon.samples import ReadingSink, Sample, ScoredSample
from driftmon.scoring.scorer import Scorer, ScoreResult, detections_json
from driftmon.signals import BLANK, MARGIN_VIOLATION, TEXT_FIDELITY
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


@dataclass(frozen=True, slots=True)
class Scored:
    """What every `ScoreListener` hears once a sample is scored and stored."""

    sample: ScoredSample
    #: the model version as a metric label (capped once per sample: metrics.max_model_versions)
    version: str
    #: the image embedding, when the composition checks computed one
    embedding: np.ndarray | None = None


class ScoreListener(Protocol):
    """Told about every scored sample, in the scoring thread: must be quick and must not block."""

    def on_scored(self, scored: Scored) -> None: ...


class RuleReadings:
    """Listener: a scored sample's readings (scores, latency) go to a ReadingSink (the rules)."""

    def __init__(self, sink: ReadingSink) -> None:
        self.sink = sink

    def on_scored(self, scored: Scored) -> None:
        sample = scored.sample
        self.sink.record(sample.received_at, sample.labels, reading_values(sample))


class ScoreObserver:
    """Listener: `observe(source, version, scores)`, e.g. the composition metrics."""

    def __init__(self, observe: Callable[[str, str, Mapping[str, float | None]], None]) -> None:
        self.observe = observe

    def on_scored(self, scored: Scored) -> None:
        self.observe(scored.sample.source, scored.version, scored.sample.scores)


def is_failing(scores: dict[str, float | None], failing_below: float) -> bool:
    """A sample worth a picture: low fidelity, text in the margin, or a blank frame."""
    fidelity = scores.get(TEXT_FIDELITY)
    return (
        (fidelity is not None and fidelity < failing_below)
        or scores.get(MARGIN_VIOLATION) == 1.0
        or scores.get(BLANK) == 1.0
    )


class ScoringWorker:
    """Owns the scorer (built in its own thread, so model loading never blocks the server)."""

    def __init__(
        self,
        make_scorer: Callable[[], Scorer],
        store: Store,
        metrics: Metrics,
        artifacts: Artifacts | None,
        *,
        listeners: Sequence[ScoreListener] = (),
        sink: ReadingSink | None = None,
        queue_size: int = 256,
        queue_max_bytes: int = 64 * 1024 * 1024,
        batch_size: int = 16,
        failing_below: float = 0.85,
        max_pixels: int = 40_000_000,
        cpu_threads: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`sink` is short for one more listener, `RuleReadings(sink)`."""
        self._make_scorer = make_scorer
        self.store = store
        self.metrics = metrics
        self.artifacts = artifacts
        self.listeners = (*listeners, *([RuleReadings(sink)] if sink is not None else []))
        self.batch_size = batch_size
        self.failing_below = failing_below
        self.max_pixels = max_pixels
        self.cpu_threads = cpu_threads
        self.clock = clock
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
        self._listener_errors = Counter(
            "driftmon_listener_errors",
            "Exceptions raised by listeners of scored samples (the sample stays scored).",
            ["listener"],
            registry=metrics.registry,
        )

    def start(self) -> None:
        self._thread.start()

    def submit(self, sample: Sample) -> bool:
        """Queue a sample without blocking; False when the queue is full, by count or by the bytes
        its samples hold (the caller, `Intake`, counts it as shed)."""
        if not self._reserve(sample):
            return False  # nothing reserved: nothing to release
        try:
            self.queue.put_nowait(sample)
        except queue.Full:
            self._release(sample)
            return False
        self.metrics.queue_depth.set(self.queue.qsize())
        return True

    @staticmethod
    def _size(sample: Sample) -> int:
        return len(sample.encoded) + (0 if sample.image is None else sample.image.nbytes)

    def _reserve(self, sample: Sample) -> bool:
        """Count the sample's bytes as queued, unless they would pass `queue_max_bytes`; one
        sample on an empty queue is always taken (a limit below one image must not stop scoring)."""
        with self._bytes_lock:
            size = self._size(sample)
            if self._queued_bytes and self._queued_bytes + size > self.queue_max_bytes:
                return False
            self._queued_bytes += size
            return True

    @property
    def queued_bytes(self) -> int:
        """The bytes of the samples queued now, as counted against `queue_max_bytes`."""
        with self._bytes_lock:
            return self._queued_bytes

    def _release(self, sample: Sample) -> None:
        with self._bytes_lock:
            self._queued_bytes -= self._size(sample)

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
        self._tell_listeners(Scored(scored, version, result.embedding))

    def _tell_listeners(self, scored: Scored) -> None:
        for listener in self.listeners:
            try:
                listener.on_scored(scored)
            except Exception as exc:  # a listener must never stop scoring nor the other listeners
                name = type(listener).__name__
                self._listener_errors.labels(name).inc()
                log.error("listener_failed", listener=name, id=scored.sample.id, error=repr(exc))

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
