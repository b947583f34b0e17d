"""What the gate compares: jobs (prompt, seed, size, truth) and each side's outcome for each job."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftmon.errors import ConfigError
from driftmon.expectations import expected_lines

SIDES = ("baseline", "candidate")


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt of the set: an id for reports, the text, the size, an optional truth override."""

    id: str
    text: str
    size: tuple[int, int] = (512, 512)
    expected_text: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One image to compare: the same prompt and seed on both sides."""

    key: str
    prompt: Prompt
    seed: int | None

    @property
    def expected_lines(self) -> tuple[str, ...]:
        """The text the image should show."""
        return expected_lines(self.prompt.text, self.prompt.expected_text)


@dataclass
class Outcome:
    """One side's result for one job: the generated (or found) image, then its scores."""

    side: str
    job: Job
    error: str | None = None
    image_bytes: bytes | None = field(default=None, repr=False)
    image_sha256: str | None = None
    image_path: str | None = None
    overlay_path: str | None = None
    latency_seconds: float | None = None
    steps: int | None = None
    model_version: str | None = None
    #: what the generator reported (driftmon.gate.costs) and the image's (width, height)
    sampler: str | None = None
    gpu_seconds: float | None = None
    image_size: tuple[int, int] | None = None
    attempts: int = 0
    scores: dict[str, float | None] = field(default_factory=dict)
    ocr_text: str | None = None
    failing: bool | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        """Generated (or found) without error."""
        return self.error is None and self.image_bytes is not None

    @property
    def scored(self) -> bool:
        """Scored (or its score reused)."""
        return self.ok and self.failing is not None

    def as_json(self) -> dict[str, Any]:
        """The outcome for report.json and the artifact manifest (no image bytes)."""
        return {
            "side": self.side,
            "job": self.job.key,
            "prompt_id": self.job.prompt.id,
            "prompt": self.job.prompt.text,
            "seed": self.job.seed,
            "error": self.error,
            "image": self.image_path,
            "image_sha256": self.image_sha256,
            "overlay": self.overlay_path,
            "latency_seconds": self.latency_seconds,
            "steps": self.steps,
            "sampler": self.sampler,
            "gpu_seconds": self.gpu_seconds,
            "image_size": None if self.image_size is None else list(self.image_size),
            "model_version": self.model_version,
            "attempts": self.attempts,
            "scores": self.scores,
            "ocr_text": self.ocr_text,
            "failing": self.failing,
            "score_reused": self.cached,
        }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:48] or "prompt"


def plan_jobs(prompts: Sequence[Prompt], seeds: Sequence[int]) -> list[Job]:
    """Every prompt at every seed, prompt-major (the same list for both sides)."""
    return [Job(f"{p.id}#s{seed}", p, seed) for p in prompts for seed in seeds]


def load_prompts(path: Path | None) -> list[Prompt]:
    """The probe set (default) or a prompt file: a probe YAML, or plain text with one prompt a line."""
    from driftmon.defaults import PROBES_FILE
    from driftmon.sources.probe import load_probes

    source = path or PROBES_FILE
    if source.suffix.lower() in (".yaml", ".yml"):
        probes = load_probes(source)
        return [Prompt(p.name, p.prompt, (int(p.size[0]), int(p.size[1])), p.expected_text) for p in probes]
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from exc
    texts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not texts:
        raise ConfigError(f"{source}: no prompts")
    return [Prompt(f"p{index:03d}-{_slug(text)[:24]}", text) for index, text in enumerate(texts, 1)]


def item_jobs(items: Sequence[Any]) -> list[tuple[Job, Any]]:
    """Jobs for the images of a directory source, keyed by prompt and seed (or occurrence)."""
    seen: dict[tuple[str, int | None], int] = {}
    jobs = []
    for item in items:
        prompt = item.prompt or ""
        occurrence = seen.get((prompt, item.seed), 0)
        seen[(prompt, item.seed)] = occurrence + 1
        prompt_id = _slug(prompt) if prompt else _slug(item.path.stem)
        suffix = f"#s{item.seed}" if item.seed is not None else ""
        key = f"{prompt_id}{suffix}" + (f"#{occurrence + 1}" if occurrence else "")
        jobs.append((Job(key, Prompt(prompt_id, prompt, expected_text=item.expected_text), item.seed), item))
    return jobs


def by_key(outcomes: Sequence[Outcome]) -> Mapping[str, Outcome]:
    """Outcomes by job key."""
    return {o.job.key: o for o in outcomes}
