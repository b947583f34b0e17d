"""The probe source: canary prompts from ``rules/probes.yaml`` sent on a schedule to the generator.

    load_probes(path)                    the validated probe set (ConfigError names file:line, field)
    Prober(probes, generator, submit, interval=..., registry=..., on_outcome=...)
      start(scheduler=...)               run every probe every `interval` on the daemon's scheduler
                                         (driftmon.scheduler; without one, on a scheduler of its own)
      await run_once()                   every probe once, in order; the ProbeResults
      await shutdown()                   stop the schedule, let a run finish (bounded), close
    Prober.from_config(config.sources.probe, submit, ...)

Each generated image goes to `submit(encoded_image, meta, source="probe")` (the daemon's: its
`Intake.offer`, which raises when it refuses the sample: counted as dropped). A failure never
escapes: it is counted by reason, reported to `on_outcome(probe, False, reason)` and logged once
per burst (the first failure, the first of each new reason, a reminder every `remind_every`
seconds while it lasts, and one summary when every probe succeeds again).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import httpx
import structlog
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from driftmon.config_base import format_validation_errors
from driftmon.errors import ConfigError, GeneratorError
from driftmon.samples import SampleMeta
from driftmon.scheduler import Scheduler
from driftmon.sources.base import Generator
from driftmon.sources.generators import FAILURE_REASONS, make_generator

if TYPE_CHECKING:  # config imports this package to gather the generator kinds
    from driftmon.config import ProbeConfig

#: every value of the `reason` label: the adapters' reasons plus `internal` (an unexpected error)
PROBE_FAILURE_REASONS = (*FAILURE_REASONS, "internal")
#: every value of the `outcome` label: ok; failed (the generator call); dropped (submit refused it)
PROBE_OUTCOMES = ("ok", "failed", "dropped")
JOB_ID = "driftmon-probe"


def _parse_size(value: Any) -> Any:
    if isinstance(value, str):
        width, sep, height = value.lower().partition("x")
        if not sep or not width.strip().isdigit() or not height.strip().isdigit():
            raise ValueError(f"size must look like 512x512, not {value!r}")
        return (int(width), int(height))
    return value


Dimension = Annotated[int, Field(ge=64, le=4096)]
Size = Annotated[tuple[Dimension, Dimension], BeforeValidator(_parse_size)]


class Probe(BaseModel):
    """One canary prompt. `name` becomes the sample label ``probe=<name>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    prompt: str = Field(min_length=1)
    #: fixed, so that the same prompt is compared with itself over time (no random seeds)
    seed: int = Field(ge=0, le=2**32 - 1)
    #: ``WxH`` (or ``[W, H]``)
    size: Size = (512, 512)
    #: overrides the quoted text of the prompt; an empty string means "no text expected"
    expected_text: str | None = None
    expected_objects: dict[str, Annotated[int, Field(ge=0)]] | None = None


class ProbeSet(BaseModel):
    """The probe file: ``probes:`` and a non-empty list of probes with distinct names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    probes: list[Probe] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_names(self) -> ProbeSet:
        names = [probe.name for probe in self.probes]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two probes are named {name!r}; give each a distinct name")
        return self


def load_probes(path: Path | str) -> tuple[Probe, ...]:
    """Read and validate a probe file; ConfigError names the file, the line and the field."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from exc
    try:
        return tuple(ProbeSet.model_validate(data).probes)
    except ValidationError as exc:
        raise ConfigError(format_validation_errors(exc, source, text, {})) from exc


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe call came to: ok, or the failure reason; latency when the call succeeded."""

    probe: str
    outcome: str
    reason: str | None = None
    latency_seconds: float | None = None
    model_version: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the generator answered with an image (even if intake then dropped it)."""
        return self.outcome != "failed"


class Submit(Protocol):
    """The daemon's intake: takes one encoded image and its meta (may be a coroutine function)."""

    def __call__(self, encoded_image: bytes, meta: SampleMeta, source: str = "probe") -> Any: ...


OnOutcome = Callable[[str, bool, str | None], Awaitable[None] | None]


class ProbeMetrics:
    """The probe's metric families, registered on `registry`; every label value pre-created at 0."""

    def __init__(self, registry: CollectorRegistry, probes: Sequence[str] = ()) -> None:
        self.requests = Counter(
            "driftmon_probe_requests",
            "Probe requests by probe and outcome: ok, failed (the generator call), dropped (intake refused).",
            ["probe", "outcome"],
            registry=registry,
        )
        self.failures = Counter(
            "driftmon_probe_failures",
            "Failed probe requests by reason.",
            ["reason"],
            registry=registry,
        )
        self.last_success = Gauge(
            "driftmon_probe_last_success_timestamp_seconds",
            "Unix time of the last probe request that returned an image (0: none yet).",
            registry=registry,
        )
        for probe in probes:  # the probe set is fixed at start, so the label is bounded
            for outcome in PROBE_OUTCOMES:
                self.requests.labels(probe=probe, outcome=outcome)
        for reason in PROBE_FAILURE_REASONS:
            self.failures.labels(reason=reason)


@dataclass(frozen=True, slots=True)
class BurstSummary:
    """A burst of failures that has ended: how many, of which reasons, for how long."""

    failures: int
    reasons: dict[str, int]
    probes: tuple[str, ...]
    duration_seconds: float


@dataclass
class BurstTracker:
    """Which failures deserve a log line (pure: takes the time, returns decisions).

    A burst starts with the first failure while no probe is failing and ends when every probe
    that failed has succeeded again. Inside a burst, only a reason no failing probe has yet, or
    a reminder every `remind_every` seconds, is worth another line.
    """

    remind_every: float = 600.0
    _failing: dict[str, str] = field(default_factory=dict)
    _reasons: Tally[str] = field(default_factory=Tally)
    _probes: set[str] = field(default_factory=set)
    _count: int = 0
    _since: float = 0.0
    _last_line: float = 0.0

    @property
    def active(self) -> bool:
        """Whether a burst is under way."""
        return bool(self._failing)

    def failure(self, now: float, probe: str, reason: str) -> str | None:
        """Record a failure; return ``first``, ``new_reason``, ``reminder`` or None (stay quiet)."""
        decision = None
        if not self._failing:
            self._since, decision = now, "first"
        elif reason not in self._failing.values():
            decision = "new_reason"
        elif now - self._last_line >= self.remind_every:
            decision = "reminder"
        self._failing[probe] = reason
        self._reasons[reason] += 1
        self._probes.add(probe)
        self._count += 1
        if decision:
            self._last_line = now
        return decision

    def success(self, now: float, probe: str) -> BurstSummary | None:
        """Record a success; the burst's summary when it was the last failing probe."""
        if self._failing.pop(probe, None) is None or self._failing:
            return None
        summary = self.snapshot(now)
        self._reasons, self._probes, self._count = Tally(), set(), 0
        return summary

    def snapshot(self, now: float) -> BurstSummary:
        """The burst so far."""
        return BurstSummary(
            failures=self._count,
            reasons=dict(sorted(self._reasons.items())),
            probes=tuple(sorted(self._probes)),
            duration_seconds=max(0.0, now - self._since),
        )


class Prober:
    """Sends every probe to the generator each `interval` seconds and submits what comes back."""

    def __init__(
        self,
        probes: Sequence[Probe],
        generator: Generator,
        submit: Submit,
        *,
        interval: float = 60.0,
        registry: CollectorRegistry | None = None,
        on_outcome: OnOutcome | None = None,
        logger: Any = None,
        clock: Callable[[], float] = time.time,
        remind_every: float = 600.0,
        shutdown_grace: float = 5.0,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.probes = tuple(probes)
        self.generator = generator
        self.interval = interval
        self.metrics = ProbeMetrics(
            registry if registry is not None else CollectorRegistry(), [p.name for p in self.probes]
        )
        self._submit = submit
        self._on_outcome = on_outcome
        self._log = logger if logger is not None else structlog.get_logger("driftmon.probe")
        self._clock = clock
        self._shutdown_grace = shutdown_grace
        self._failures = BurstTracker(remind_every)
        self._drops = BurstTracker(remind_every)
        self._lock = asyncio.Lock()
        self._scheduler: Scheduler | None = None
        self._owns_scheduler = False
        self._running: asyncio.Task[Any] | None = None

    @classmethod
    def from_config(
        cls,
        config: ProbeConfig,
        submit: Submit,
        *,
        registry: CollectorRegistry | None = None,
        on_outcome: OnOutcome | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        base_dir: Path | None = None,
        shutdown_grace: float = 5.0,
    ) -> Prober:
        """A prober for `config` (sources.probe); relative probe paths resolve against `base_dir`."""
        path = config.prompts if base_dir is None else base_dir / config.prompts
        return cls(
            load_probes(path),
            make_generator(config.generator, transport=transport),
            submit,
            interval=config.interval,
            registry=registry,
            on_outcome=on_outcome,
            shutdown_grace=shutdown_grace,
        )

    def start(self, first_run_in: float = 0.0, scheduler: Scheduler | None = None) -> None:
        """Schedule `run_once` every `interval` seconds, the first after `first_run_in`, as the job
        `driftmon-probe` of `scheduler` (default: one of its own, started now; needs a loop)."""
        if self._scheduler is not None:
            raise RuntimeError("the prober is already started")
        self._owns_scheduler = scheduler is None
        if scheduler is None:
            scheduler = Scheduler()
            scheduler.begin()
        scheduler.every(JOB_ID, self.interval, self._scheduled_run, first_in=first_run_in)
        self._scheduler = scheduler

    async def shutdown(self) -> None:
        """Stop scheduling, give a running round `shutdown_grace` seconds, then cancel it; close."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.remove(JOB_ID)
        task = self._running
        if task is not None and not task.done():
            # a round in flight is allowed to finish: its images are already paid for
            done, _ = await asyncio.wait({task}, timeout=self._shutdown_grace)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        if scheduler is not None and self._owns_scheduler:
            await scheduler.stop(grace=0.0)
        await self.generator.aclose()

    async def _scheduled_run(self) -> None:
        self._running = asyncio.current_task()
        try:
            await self.run_once()
        except asyncio.CancelledError:
            # only shutdown cancels a round, and it has nothing more to say than this line
            self._log.info("probe_round_cancelled")
        finally:
            self._running = None

    async def run_once(self) -> list[ProbeResult]:
        """Run every probe once, in order (one at a time: probes must not load the generator)."""
        async with self._lock:
            return [await self.run_probe(probe) for probe in self.probes]

    async def run_probe(self, probe: Probe) -> ProbeResult:
        """One probe: generate, submit, count, report; never raises (except on cancellation)."""
        try:
            generated = await self.generator.generate(probe.prompt, probe.seed, probe.size)
        except GeneratorError as exc:
            reason = exc.reason if exc.reason in PROBE_FAILURE_REASONS else "internal"
            return await self._failed(probe, reason, str(exc))
        except Exception as exc:  # a bug in an adapter must not stop the probes
            return await self._failed(probe, "internal", f"{type(exc).__name__}: {exc}")
        meta = self.meta_for(probe, generated.model_version, generated.latency_seconds, generated.steps)
        outcome = await self._hand_over(probe, generated.image_bytes, meta)
        result = ProbeResult(probe.name, outcome, None, generated.latency_seconds, generated.model_version)
        self._record_success(probe, result)
        await self._report(probe.name, True, None)
        return result

    @staticmethod
    def meta_for(probe: Probe, model_version: str, latency_seconds: float, steps: int | None) -> SampleMeta:
        """The sample meta of one probe's image: labelled ``probe=<name>``, with the requested size."""
        return SampleMeta(
            prompt=probe.prompt,
            expected_text=probe.expected_text,
            model_version=model_version,
            request_id=f"probe-{probe.name}-{time.time_ns():x}",
            latency_seconds=latency_seconds,
            steps=steps,
            seed=probe.seed,
            labels={"probe": probe.name},
            size=probe.size,
            expected_objects=probe.expected_objects,
        )

    async def _hand_over(self, probe: Probe, image: bytes, meta: SampleMeta) -> str:
        try:
            result = self._submit(image, meta, source="probe")
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # intake full or closing: count it, keep probing
            decision = self._drops.failure(self._clock(), probe.name, type(exc).__name__)
            if decision:
                error = f"{type(exc).__name__}: {exc}"
                self._log.warning("probe_sample_dropped", probe=probe.name, error=error)
            return "dropped"
        summary = self._drops.success(self._clock(), probe.name)
        if summary:
            self._log.info("probe_samples_accepted_again", dropped=summary.failures)
        return "ok"

    def _record_success(self, probe: Probe, result: ProbeResult) -> None:
        now = self._clock()
        self.metrics.requests.labels(probe=probe.name, outcome=result.outcome).inc()
        self.metrics.last_success.set(now)
        summary = self._failures.success(now, probe.name)
        if summary:
            self._log.info(
                "probe_recovered",
                failures=summary.failures,
                reasons=summary.reasons,
                probes=list(summary.probes),
                duration_seconds=round(summary.duration_seconds, 3),
            )

    async def _failed(self, probe: Probe, reason: str, message: str) -> ProbeResult:
        self.metrics.requests.labels(probe=probe.name, outcome="failed").inc()
        self.metrics.failures.labels(reason=reason).inc()
        now = self._clock()
        decision = self._failures.failure(now, probe.name, reason)
        if decision == "first":
            self._log.warning("probe_failing", probe=probe.name, reason=reason, error=message)
        elif decision:
            summary = self._failures.snapshot(now)
            self._log.warning(
                "probe_still_failing",
                probe=probe.name,
                reason=reason,
                error=message,
                failures=summary.failures,
                reasons=summary.reasons,
                duration_seconds=round(summary.duration_seconds, 3),
            )
        await self._report(probe.name, False, reason)
        return ProbeResult(probe.name, "failed", reason)

    async def _report(self, name: str, ok: bool, reason: str | None) -> None:
        if self._on_outcome is None:
            return
        try:
            result = self._on_outcome(name, ok, reason)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self._log.exception("probe_outcome_callback_failed", probe=name)
