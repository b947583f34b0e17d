"""Score the outcomes with the daemon's scorer, batched; keep every image and score under --out.

Artifacts (content-addressed, under the report directory)::

    images/<sha256>.<ext>                    each image as generated (or found)
    overlays/<sha256>-<truth>-<scorer>.png   OCR boxes and the verdict caption
    scores/<sha256>-<truth>-<scorer>.json    the scores
    manifest.jsonl                           one line per outcome: side, prompt, seed, paths, scores

Scores are cached in the cache directory by image hash, expected text and scorer version, so a
re-run (which regenerates images) scores only images it has not seen.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from driftmon.errors import ImageRejected
from driftmon.gate.plan import Outcome
from driftmon.images.decode import decode_image, read_header
from driftmon.pipeline import is_failing
from driftmon.samples import SampleMeta


class ScoreBackend(Protocol):
    """Scores batches of images: the daemon's Scorer (or a test double)."""

    version: str

    def score_batch(
        self, images: Sequence[np.ndarray], expected: Sequence[Sequence[str]], metas: Sequence[SampleMeta]
    ) -> list[Any]:
        """One driftmon.scoring.scorer.ScoreResult per image."""
        ...


class LazyScorer:
    """The daemon's Scorer, built on first use (a fully cached re-run loads no model)."""

    def __init__(self, factory: Callable[[], Any], version: str) -> None:
        self._factory = factory
        self._scorer: Any = None
        self.version = version

    def score_batch(
        self, images: Sequence[np.ndarray], expected: Sequence[Sequence[str]], metas: Sequence[SampleMeta]
    ) -> list[Any]:
        if self._scorer is None:
            self._scorer = self._factory()
        return list(self._scorer.score_batch(images, expected, metas))


def scorer_version(scoring: Any) -> str:
    """driftmon's version and a hash of the scoring configuration: what makes scores comparable."""
    from driftmon import __version__

    settings = scoring.model_dump(mode="json") if hasattr(scoring, "model_dump") else scoring
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    return f"{__version__}-{digest[:10]}"


def truth_key(lines: Sequence[str]) -> str:
    """A short hash of the expected lines (the same image scores differently against other text)."""
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class ScoreStore:
    """Where images, overlays and scores go (`out`) and where scores are reused from (`cache`)."""

    out: Path
    cache: Path | None
    version: str

    def name(self, outcome: Outcome) -> str:
        return f"{outcome.image_sha256}-{truth_key(outcome.job.expected_lines)}"

    def cached(self, outcome: Outcome) -> Path | None:
        if self.cache is None:
            return None
        path = self.cache / self.version / f"{self.name(outcome)}.json"
        return path if path.is_file() else None

    def save_image(self, outcome: Outcome) -> None:
        assert outcome.image_bytes is not None
        try:
            ext = read_header(outcome.image_bytes).format.lower().replace("jpeg", "jpg")
        except ImageRejected:
            ext = "bin"
        relative = f"images/{outcome.image_sha256}.{ext}"
        target = self.out / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(outcome.image_bytes)
        outcome.image_path = relative

    def save_scores(self, outcome: Outcome, record: dict[str, Any], overlay: Any | None) -> None:
        stem = f"{self.name(outcome)}-{self.version}"
        (self.out / "scores").mkdir(parents=True, exist_ok=True)
        (self.out / "scores" / f"{stem}.json").write_text(json.dumps(record, indent=1), "utf-8")
        overlay_target = self.out / "overlays" / f"{stem}.png"
        overlay_target.parent.mkdir(parents=True, exist_ok=True)
        if overlay is not None:
            overlay.save(overlay_target, compress_level=3)
        if overlay_target.exists():
            outcome.overlay_path = f"overlays/{stem}.png"
        if self.cache is not None:
            directory = self.cache / self.version
            directory.mkdir(parents=True, exist_ok=True)
            (directory / f"{self.name(outcome)}.json").write_text(json.dumps(record), "utf-8")
            if overlay_target.exists():
                shutil.copyfile(overlay_target, directory / f"{self.name(outcome)}.png")

    def reuse(self, outcome: Outcome, path: Path) -> dict[str, Any]:
        record: dict[str, Any] = json.loads(path.read_text("utf-8"))
        overlay = path.with_suffix(".png")
        stem = f"{self.name(outcome)}-{self.version}"
        if overlay.is_file():
            (self.out / "overlays").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(overlay, self.out / "overlays" / f"{stem}.png")
        self.save_scores(outcome, record, None)
        return record


def _apply(outcome: Outcome, record: dict[str, Any], failing_below: float, cached: bool) -> None:
    outcome.scores = dict(record["scores"])
    outcome.ocr_text = record.get("ocr_text")
    outcome.failing = is_failing(outcome.scores, failing_below)
    outcome.cached = cached


def _record(result: Any, version: str) -> dict[str, Any]:
    return {
        "scorer_version": version,
        "scores": dict(result.scores),
        "ocr_text": result.text.ocr_text,
        "expected_text": result.text.expected_text,
    }


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def score_outcomes(
    outcomes: Sequence[Outcome],
    backend: ScoreBackend,
    store: ScoreStore,
    *,
    failing_below: float,
    max_pixels: int,
    batch_size: int,
    advance: Callable[[int], None] = lambda n: None,
) -> int:
    """Score every successful outcome (reusing cached scores); returns how many were scored anew."""
    from driftmon.scoring.overlay import render_overlay

    pending: list[tuple[Outcome, np.ndarray]] = []
    for outcome in outcomes:
        if not outcome.ok:
            continue
        store.save_image(outcome)
        hit = store.cached(outcome)
        if hit is not None:
            _apply(outcome, store.reuse(outcome, hit), failing_below, cached=True)
            advance(1)
            continue
        try:
            assert outcome.image_bytes is not None
            pending.append((outcome, decode_image(outcome.image_bytes, max_pixels)))
        except ImageRejected as exc:
            outcome.error = f"rejected: {exc}"
            advance(1)
    for batch in _batches(pending, batch_size):
        metas = [_meta(o) for o, _ in batch]
        images = [image for _, image in batch]
        results = backend.score_batch(images, [o.job.expected_lines for o, _ in batch], metas)
        for (outcome, image), result in zip(batch, results, strict=True):
            record = _record(result, store.version)
            overlay = render_overlay(image, result.detections, result.text)
            store.save_scores(outcome, record, overlay)
            _apply(outcome, record, failing_below, cached=False)
        advance(len(batch))
    return len(pending)


def _meta(outcome: Outcome) -> SampleMeta:
    return SampleMeta(
        prompt=outcome.job.prompt.text,
        expected_text=outcome.job.prompt.expected_text,
        model_version=outcome.model_version or "unknown",
        latency_seconds=outcome.latency_seconds,
        steps=outcome.steps,
        seed=outcome.job.seed,
        labels={"image_sha256": outcome.image_sha256 or "", "gate_side": outcome.side},
    )


def write_manifest(out: Path, outcomes: Iterable[Outcome]) -> Path:
    """``manifest.jsonl``: one line per outcome (side, job, paths, hashes, scores)."""
    path = out / "manifest.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for outcome in outcomes:
            handle.write(json.dumps(outcome.as_json()) + "\n")
    return path
