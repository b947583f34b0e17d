"""The scorer's own process: it owns the models and the GPU; the daemon (its parent) never imports torch.

    child = ScorerChild(factory, settings)     nothing started
    info = child.start(stop)                    spawn (multiprocessing "spawn"), wait for the models;
                                                raises ScorerLost (died, or load failed: the reason)
    outcomes = child.score(entries, timeout)    one batch; raises ScorerLost (crash, timeout: killed)
    child.close()                               ask it to exit, kill it after a second

The parent claims entries from the intake journal and sends them (encoded bytes + meta, keyed by
journal entry id); the child decodes, scores, keeps the pictures of failing samples and sends back
one small `Outcome` per entry: scores, evidence, picture paths, the embedding. The parent alone
commits rows, counts metrics, tells the rules and completes journal entries (driftmon.worker.supervisor),
so every sample is recorded exactly once whichever process dies when.

The child ignores SIGINT and SIGTERM (its parent decides when it stops) and exits by itself when
its parent dies. `scorer_factory` is any picklable callable returning a `Scorer`-like object
(`score_batch(images, expected, metas)`); the default, `ScorerFromConfig`, builds the OCR engine
and the composition checks from `scoring` settings inside the child.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from driftmon.errors import DriftmonError, ImageRejected
from driftmon.logs import configure_logging, route_library_warnings
from driftmon.samples import ScoredSample

if TYPE_CHECKING:
    from driftmon.config import ScoringConfig
    from driftmon.samples import Sample
    from driftmon.scoring.scorer import Scorer, ScoreResult
    from driftmon.store.journal import Entry

#: how often the child checks that its parent still lives
PARENT_CHECK_SECONDS = 0.5


class ScorerLost(DriftmonError):
    """The scorer process died, timed out (and was killed) or could not load its models."""


@dataclass(frozen=True, slots=True)
class ChildSettings:
    """What the child needs besides its factory (picklable)."""

    max_pixels: int = 40_000_000
    failing_below: float = 0.85
    cpu_threads: int | None = None
    #: artifacts (pictures of failing samples): directory, max count, retention; None: off
    artifacts: tuple[str, int, float] | None = None
    warm_up: bool = True
    #: the daemon's `logging.level` and `logging.format`: the child logs like its parent, and
    #: library warnings (torch, EasyOCR) go to its log at debug level, never raw to stderr
    log_level: str = "info"
    log_format: str = "auto"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one journal entry in the child (small; crosses the pipe)."""

    entry_id: int
    #: scored | rejected (cannot be decoded) | failed (the scorer raised)
    kind: str
    reason: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)
    ocr_text: str = ""
    expected_text: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    failing: bool = False
    image_path: str | None = None
    overlay_path: str | None = None
    embedding: np.ndarray | None = None

    def scored_sample(self, sample: Sample, scored_at: float) -> ScoredSample:
        """`sample` scored at `scored_at`, carrying this outcome's results (`RESULT_FIELDS`)."""
        results = {name: getattr(self, name) for name in RESULT_FIELDS}
        return ScoredSample(
            id=sample.id,
            source=sample.source,
            received_at=sample.received_at,
            scored_at=scored_at,
            meta=sample.meta,
            **results,
        )


#: what an outcome hands on to its ScoredSample as it is: the fields both have (scores, texts,
#: evidence, failing, picture paths)
RESULT_FIELDS = tuple(sorted({f.name for f in fields(Outcome)} & {f.name for f in fields(ScoredSample)}))


@dataclass(frozen=True, slots=True)
class BatchDone:
    """The child's answer to one batch: an outcome per entry, stage timings, OOM retries so far."""

    outcomes: list[Outcome]
    stages: list[tuple[str, float]]
    oom_retries: int = 0


class ScorerFromConfig:
    """The default factory: the OCR engine and composition checks of `scoring` (runs in the child)."""

    def __init__(self, scoring: ScoringConfig) -> None:
        self.scoring = scoring

    def __call__(self) -> Scorer:
        from driftmon.scoring.factory import build_scorer  # the readers, mode and checks of `scoring`

        return build_scorer(self.scoring, on_stage=record_stage)


#: the stage timings of the batch being scored (in the child), sent back with its outcomes
_STAGES: list[tuple[str, float]] = []


def record_stage(stage: str, seconds: float) -> None:
    """A scorer's `observe_stage` in the child: the timing goes back to the parent's metrics."""
    _STAGES.append((stage, seconds))


# -- the parent's handle ---------------------------------------------------------------------------


class ScorerChild:
    """One scorer process, seen from the parent (see the module docstring)."""

    def __init__(self, factory: Callable[[], Any], settings: ChildSettings) -> None:
        self.factory = factory
        self.settings = settings
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, stop: threading.Event) -> dict[str, str]:
        """Spawn the child and wait until its models are loaded (or `stop` is set: ScorerLost)."""
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe()
        process = context.Process(
            target=child_main,
            args=(child_end, self.factory, self.settings, os.getpid()),
            name="driftmon-scorer",
            daemon=True,
        )
        process.start()
        child_end.close()
        self._process, self._conn = process, parent_end
        message = self._receive(lambda: stop.is_set(), "loading models")
        if message[0] == "load_failed":
            self.kill()
            raise ScorerLost(f"the scorer could not load its models: {message[1]}")
        return dict(message[1])

    def score(self, entries: Sequence[Entry], timeout: float) -> BatchDone:
        """Score one batch; ScorerLost (the child is then gone) when it crashed or timed out."""
        assert self._conn is not None
        try:
            self._conn.send([(entry.id, entry.sample) for entry in entries])
        except (OSError, ValueError) as exc:
            self.kill()
            raise ScorerLost(f"the scorer crashed: {exc!r}") from exc
        deadline = time.monotonic() + timeout
        message = self._receive(lambda: time.monotonic() > deadline, f"timed out after {timeout:g} s")
        done: BatchDone = message[1]
        return done

    def _receive(self, give_up: Callable[[], bool], why: str) -> tuple[Any, ...]:
        assert self._conn is not None and self._process is not None
        while True:
            try:
                if self._conn.poll(0.1):
                    message: tuple[Any, ...] = self._conn.recv()
                    return message
            except (EOFError, OSError) as exc:
                self._process.join(1.0)
                code = self._process.exitcode
                self.kill()
                raise ScorerLost(f"the scorer crashed (exit code {code})") from exc
            if not self._process.is_alive():
                code = self._process.exitcode
                self.kill()
                raise ScorerLost(f"the scorer crashed (exit code {code})")
            if give_up():
                self.kill()
                raise ScorerLost(f"the scorer {why}; killed")

    def close(self, wait: float = 1.0) -> None:
        """Ask the child to exit (it finishes nothing); kill it when it does not within `wait`."""
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(None)
        if self._process is not None:
            self._process.join(wait)
        self.kill()

    def kill(self) -> None:
        process, conn = self._process, self._conn
        if process is not None and process.is_alive():
            process.kill()
            process.join(5.0)
        if conn is not None:
            conn.close()
        self._process = self._conn = None


# -- the child --------------------------------------------------------------------------------------


def child_main(conn: Connection, factory: Callable[[], Any], settings: ChildSettings, parent: int) -> None:
    """The scorer process: load, warm up, then score batches until told to stop or orphaned."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    configure_logging(settings.log_level, settings.log_format)
    route_library_warnings()
    try:
        scorer = factory()
        _set_cpu_threads(settings.cpu_threads)
        if settings.warm_up:
            _warm_up(scorer)
    except Exception as exc:
        conn.send(("load_failed", str(exc) if isinstance(exc, DriftmonError) else repr(exc)))
        return
    conn.send(("ready", _describe(scorer)))
    worker = ChildScorer(scorer, settings)
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        _STAGES.clear()
        outcomes = worker.score(batch)
        ocr = getattr(scorer, "ocr", None)
        conn.send(("done", BatchDone(outcomes, list(_STAGES), int(getattr(ocr, "oom_retries", 0)))))


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(0)


def _set_cpu_threads(threads: int | None) -> None:
    """Torch's CPU threads, once the factory built the scorer (before the warm-up and every
    batch); a scorer that did not import torch is left alone (importing it costs seconds)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if threads is None and not torch.cuda.is_available():
        # on a CPU-only pod, leave a core to the HTTP process so intake stays fast while scoring
        threads = max(1, (os.cpu_count() or 2) - 1)
    if threads is not None:
        torch.set_num_threads(threads)


def _warm_up(scorer: Any) -> None:
    """Score one synthetic 512² image before reporting ready, so the first real sample does not
    pay for lazy initialisation."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (512, 512), "white")
    ImageDraw.Draw(canvas).rectangle((40, 200, 472, 280), outline="black", width=8)
    scorer.score_batch([np.asarray(canvas)], [("WARM UP",)])


def _describe(scorer: Any) -> dict[str, str]:
    ocr = getattr(scorer, "ocr", None)
    if ocr is None:
        return {}
    return {"ocr_engine": str(getattr(ocr, "name", "")), "device": str(getattr(ocr, "device", ""))}


class ChildScorer:
    """Decode, score, keep pictures: a batch of (entry id, Sample) to Outcomes (in the child)."""

    def __init__(self, scorer: Any, settings: ChildSettings) -> None:
        from driftmon.images.artifacts import Artifacts

        self.scorer = scorer
        self.settings = settings
        kept = settings.artifacts
        self.artifacts = Artifacts(Path(kept[0]), kept[1], kept[2]) if kept else None

    def score(self, batch: Sequence[tuple[int, Any]]) -> list[Outcome]:
        from dataclasses import replace

        from driftmon.expectations import expected_lines
        from driftmon.images.decode import decode_image

        outcomes: dict[int, Outcome] = {}
        ready = []
        for entry_id, sample in batch:
            try:
                image = decode_image(sample.encoded, self.settings.max_pixels)
            except ImageRejected as exc:
                outcomes[entry_id] = Outcome(entry_id, "rejected", str(exc))
                continue
            ready.append((entry_id, replace(sample, image=image)))
        if ready:
            try:
                results = self.scorer.score_batch(
                    [sample.image for _, sample in ready],
                    [expected_lines(s.meta.prompt, s.meta.expected_text) for _, s in ready],
                    [s.meta for _, s in ready],
                )
            except Exception as exc:
                outcomes.update({eid: Outcome(eid, "failed", repr(exc)) for eid, _ in ready})
            else:
                for (entry_id, sample), result in zip(ready, results, strict=True):
                    outcomes[entry_id] = self._scored(entry_id, sample, result)
        return [outcomes[entry_id] for entry_id, _ in batch]

    def _scored(self, entry_id: int, sample: Any, result: ScoreResult) -> Outcome:
        from driftmon.pipeline import is_failing
        from driftmon.scoring.scorer import detections_json

        scores = dict(result.scores)
        failing = is_failing(scores, self.settings.failing_below)
        image_path = overlay_path = None
        if failing and self.artifacts is not None:
            with contextlib.suppress(OSError):
                image_path, overlay_path = self.artifacts.save(sample.id, sample.image, result)
        return Outcome(
            entry_id,
            "scored",
            scores=scores,
            ocr_text=result.text.ocr_text,
            expected_text=result.text.expected_text,
            evidence={**result.evidence, "detections": detections_json(result.detections)},
            failing=failing,
            image_path=image_path,
            overlay_path=overlay_path,
            embedding=result.embedding,
        )
