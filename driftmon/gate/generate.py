"""Generate every job on both sides: bounded concurrency, retries, timeouts, a progress bar.

Latency is what the adapter measured around the HTTP call (driftmon's own client). Directory
sources are read, not generated; their latency and steps come from their manifest or metadata.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from driftmon.errors import GeneratorError
from driftmon.gate.costs import CURRENT, Reported, ReportingTransport
from driftmon.gate.plan import Job, Outcome
from driftmon.gate.sources import DirectorySource, GeneratorSource

#: failures worth another try; 4xx, bad JSON and non-images are the generator's answer
RETRYABLE = frozenset({"timeout", "connection", "http_5xx"})


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """How hard the gate pushes the generators."""

    concurrency: int = 4
    retries: int = 2
    retry_backoff: float = 0.5


def sha256(data: bytes) -> str:
    """Hex SHA-256: the name of an image among the artifacts."""
    return hashlib.sha256(data).hexdigest()


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an encoded image's header; None when unreadable."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(image.width), int(image.height)
    except (OSError, ValueError):
        return None


async def _generate_one(
    generator: Any, job: Job, side: str, settings: GenerationSettings, seed_fallback: int
) -> Outcome:
    outcome = Outcome(side, job)
    seed = job.seed if job.seed is not None else seed_fallback
    for attempt in range(settings.retries + 1):
        outcome.attempts = attempt + 1
        reported = Reported()
        CURRENT.set(reported)  # this task's own context: filled by ReportingTransport
        try:
            generated = await generator.generate(job.prompt.text, seed, job.prompt.size)
        except GeneratorError as exc:
            outcome.error = f"{exc.reason}: {exc}"
            if exc.reason not in RETRYABLE or attempt == settings.retries:
                return outcome
            await asyncio.sleep(settings.retry_backoff * 2**attempt)
            continue
        outcome.error = None
        outcome.image_bytes = generated.image_bytes
        outcome.image_sha256 = sha256(generated.image_bytes)
        outcome.latency_seconds = generated.latency_seconds
        outcome.steps = generated.steps if generated.steps is not None else reported.steps
        outcome.sampler, outcome.gpu_seconds = reported.sampler, reported.gpu_seconds
        outcome.image_size = image_size(generated.image_bytes)
        outcome.model_version = generated.model_version
        return outcome
    return outcome  # pragma: no cover - the loop always returns


def read_directory(source: DirectorySource, jobs: Sequence[tuple[Job, Any]], side: str) -> list[Outcome]:
    """Outcomes for a directory source's images (an unreadable file is a failed outcome)."""
    outcomes = []
    for job, item in jobs:
        outcome = Outcome(side, job, attempts=1)
        if item is None:
            outcome.error = "missing: no image for this prompt and seed"
        else:
            try:
                outcome.image_bytes = item.path.read_bytes()
            except OSError as exc:
                outcome.error = f"unreadable: {item.path}: {exc.strerror}"
            else:
                outcome.image_sha256 = sha256(outcome.image_bytes)
                outcome.latency_seconds = item.latency_seconds
                outcome.steps = item.steps
                outcome.sampler = item.sampler
                outcome.image_size = image_size(outcome.image_bytes)
                outcome.model_version = item.model_version
        outcomes.append(outcome)
    return outcomes


async def generate_side(
    source: GeneratorSource,
    jobs: Sequence[Job],
    side: str,
    settings: GenerationSettings,
    advance: Callable[[], None],
    *,
    seed_fallback: int = 0,
    transport: Any = None,
) -> list[Outcome]:
    """Generate `jobs` through `source`'s adapter, at most `settings.concurrency` at a time."""
    from driftmon.sources.generators import make_generator

    generator = make_generator(source.config, transport=ReportingTransport(source.cost, transport))
    limit = asyncio.Semaphore(settings.concurrency)

    async def bounded(job: Job) -> Outcome:
        async with limit:
            outcome = await _generate_one(generator, job, side, settings, seed_fallback)
        advance()
        return outcome

    try:
        return list(await asyncio.gather(*(bounded(job) for job in jobs)))
    finally:
        await generator.aclose()


def progress_bar(total: int, description: str) -> Any:
    """A rich progress bar on stderr when it is a terminal (NO_COLOR respected); else silent."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    return Progress(console=console, transient=True, disable=not sys.stderr.isatty() or total < 2)
