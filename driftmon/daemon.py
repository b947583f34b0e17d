"""Wiring and lifecycle of `driftmon run`: build the parts, start them in order, unwind in reverse.

## Start-up and shutdown

`Daemon(config)` only calls `build(config)`: a plain object graph (the configuration, the metric
registry, the one scheduler, one part per component) in which no file is opened, no socket bound
and no thread started. `serve()` starts the parts in this order on one `contextlib.AsyncExitStack`
(apscheduler 4's `start(exit_stack)` habit): each step does its I/O and registers its own
teardown, so a failed start undoes exactly what was done, and shutdown is the stack unwinding.

    step            start                                          teardown (runs in reverse)
    1  store        open the SQLite store                          close it (last of all)
    2  gpu          open NVML (none: no GPU families)              shut NVML down
    3  rules        read the rule files, restore alert states,     close its connection
                    refill the window from the store
    4  notifier     read receiver secrets, open the outbox,        close its client and the outbox
                    add the `alert-delivery` job
    5  scoring      artifacts directory, the intake journal (an    close the journal
                    SIGTERM spool of an older release taken
                    over), the intake,
                    the scoring supervisor (not started)
    6  http         read the token file, build the app             —
    6b tap          (`sources.tap.enabled`) bind the tap's port    stop accepting, requests in flight
                    and proxy to the generator at once             get 5 s, offer what was copied
    7  probes       read the probe file, build the generator       —
    8  scheduler    add the periodic jobs, start the scheduler     no new runs; a run in flight gets
                                                                   5 s, then it is cancelled
    9  scoring      start the supervisor's thread: it spawns the   finish the batch in flight if it
       thread       scorer process (models load there) and feeds   ends within what is left of
                    it batches claimed from the journal            `server.shutdown_grace`, else kill
                                                                   the child; the rest stays in the
                                                                   journal (a log line counts it)
    10 probe job    the first round 1 s after start                no new rounds; a round in flight
                                                                   gets 5 s; close the generator client
    then serve      bind the port, serve until SIGTERM, SIGINT     stop accepting, finish requests in
                    or `stop()`                                    flight (≤ 5 s), then unwind 10 → 1

Every file the configuration names is read in steps 1-7, before the scoring thread starts, so a
broken one stops the start at once. The periodic jobs (step 8, all on one APScheduler 3.x
AsyncIOScheduler, a run never overlapping the previous one): `rules` every 1 s (`RULE_TICK`: queue
fill, rule evaluation, notifications), `gpu-signals` every 15 s, `maintenance` every 600 s
(retention of samples and pictures), `embedding-drift` every `rules.evaluation_interval` (when
enabled), `alert-delivery` every second and at once when something is queued, `driftmon-probe`
every `sources.probe.interval`. While the scoring thread drains (step 9's teardown) the rules,
the notifications and the GPU signals keep running; the probes have already stopped.

SIGTERM and SIGINT ask the server to stop (then everything above unwinds in order); the whole
shutdown is capped at `server.shutdown_grace` (past it the process exits, the journal keeping
what is not scored) and a second SIGTERM/SIGINT exits at once. SIGHUP reloads the rule files. A
signal during start-up stops the daemon as soon as the start is done.

This process never imports torch: the scorer process (driftmon.worker.child, spawned and
supervised by driftmon.worker.supervisor) owns the models and the GPU; a crash, OOM kill or hang there
restarts it with backoff and never takes intake, metrics, rules, alerting or probes down.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import structlog
import uvicorn
from prometheus_client import CollectorRegistry

from driftmon.api.server import AppState, make_app
from driftmon.config import Config
from driftmon.images.artifacts import Artifacts
from driftmon.metrics import Metrics
from driftmon.pipeline import RuleReadings, ScoreListener, ScoreObserver
from driftmon.samples import SampleMeta
from driftmon.scheduler import Scheduler
from driftmon.scoring.composition_metrics import CompositionMetrics
from driftmon.scoring.scorer import Scorer
from driftmon.signals import TEXT_FIDELITY
from driftmon.sources.intake import Intake, Offer
from driftmon.store import Store
from driftmon.store.journal import Journal, take_over_spool
from driftmon.tokens.live import StepsObserver
from driftmon.worker.child import ChildSettings, ScorerChild, ScorerFromConfig
from driftmon.worker.supervisor import Recorder, ScoringSupervisor, listener_error_counter

if TYPE_CHECKING:
    from driftmon.alerting.notifier import Notifier
    from driftmon.drift.monitor import EmbeddingMonitor
    from driftmon.gpu import GpuCollector
    from driftmon.rules.runtime import RuleRuntime
    from driftmon.sources.probe import Prober
    from driftmon.sources.tap import Tap

log = structlog.get_logger("driftmon.daemon")

MAINTENANCE_INTERVAL = 600.0
GPU_SIGNAL_INTERVAL = 15.0
RULE_TICK = 1.0
#: of `server.shutdown_grace`, what the steps unwinding after the scoring drain may take
SHUTDOWN_RESERVE = 1.0
PROBE_FIRST_RUN_IN = 1.0


def public_url(config: Config, port: int) -> str:
    """The URL users reach this daemon at: configured, else this host's name and port."""
    if config.server.public_url:
        return config.server.public_url.rstrip("/")
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"http://{host}:{port}"


def read_token(path: Path | None) -> str | None:
    """The bearer token from its file (stripped), or None when auth is off."""
    from driftmon.secrets import read_secret_file

    return None if path is None else read_secret_file(path, "server.auth_token_file")


def make_embedding_monitor(
    config: Config, metrics: CompositionMetrics, rules: RuleRuntime, clock: Callable[[], float]
) -> EmbeddingMonitor | None:
    """The embedding drift monitor, when `scoring.composition.embedding_drift` is on."""
    composition = config.scoring.composition
    if not composition.embedding_drift:
        return None
    from driftmon.drift.embedding import EmbeddingDriftTracker
    from driftmon.drift.monitor import EmbeddingMonitor

    tracker = EmbeddingDriftTracker(
        composition.drift_window,
        composition.drift_min_samples,
        composition.drift_distance_threshold,
        composition.drift_auc_threshold,
        composition.drift_alpha,
    )
    return EmbeddingMonitor(tracker, metrics, rules, clock, rules.baselines.pinned_version)


# -- the parts: built without I/O; `start(stack)` opens and registers the teardown ---------------


class StorePart:
    """Step 1: the SQLite store."""

    store: Store

    def __init__(self, config: Config) -> None:
        self.config = config

    async def start(self, stack: AsyncExitStack) -> None:
        self.store = Store(
            self.config.store.path, self.config.store.write_retries, prompts=self.config.store.prompts
        )
        stack.callback(self.store.close)


class GpuPart:
    """Step 2: NVML, read at scrape time (`nvml=False`: no NVML at all)."""

    collector: GpuCollector

    def __init__(self, registry: CollectorRegistry, nvml: Any = None) -> None:
        self.registry = registry
        self.nvml = nvml

    async def start(self, stack: AsyncExitStack) -> None:
        from driftmon.gpu import GpuCollector, open_nvml

        reader = open_nvml(self.nvml) if self.nvml is not False else None
        self.collector = GpuCollector(reader, registry=self.registry)
        stack.callback(self.collector.close)


class RulesPart:
    """Step 3: the rule runtime over the store's samples and alert states."""

    runtime: RuleRuntime

    def __init__(
        self, config: Config, store: StorePart, registry: CollectorRegistry, clock: Callable[[], float]
    ) -> None:
        self.config = config
        self.store = store
        self.registry = registry
        self.clock = clock

    async def start(self, stack: AsyncExitStack) -> None:
        from driftmon.rules.runtime import RuleRuntime

        self.runtime = RuleRuntime(self.config, self.store.store, clock=self.clock)
        stack.callback(self.runtime.close)
        self.runtime.register(self.registry)


class NotifierPart:
    """Step 4: alert delivery through the outbox, as the scheduler's `alert-delivery` job."""

    notifier: Notifier

    def __init__(self, daemon: Daemon, transport: httpx.AsyncBaseTransport | None, environ: Any) -> None:
        self.daemon = daemon
        self.transport = transport
        self.environ = environ

    async def start(self, stack: AsyncExitStack) -> None:
        from driftmon.alerting.notifier import Notifier

        daemon = self.daemon
        self.notifier = Notifier.from_config(
            daemon.config.alerting,
            daemon.store,
            evaluation_interval=daemon.config.rules.evaluation_interval,
            public_url=daemon.url,
            registry=daemon.registry,
            transport=self.transport,
            clock=daemon.clock,
            overlay_url=daemon.worst_overlay_url,
            environ=self.environ,
        )
        stack.push_async_callback(self.notifier.close)
        self.notifier.schedule(daemon.scheduler)


class ScoringPart:
    """Step 5 (`start`): the intake journal (the SIGTERM spool of an older release taken over), the
    intake, the listeners and the scoring supervisor; step 9 (`start_thread`): the supervisor's
    thread, which starts the scorer process (the models load there) and scores what the journal
    holds."""

    journal: Journal
    supervisor: ScoringSupervisor
    intake: Intake
    artifacts: Artifacts | None
    embeddings: EmbeddingMonitor | None

    def __init__(self, daemon: Daemon, scorer_factory: Callable[[], Scorer] | None) -> None:
        self.daemon = daemon
        self.scorer_factory = scorer_factory

    async def start(self, stack: AsyncExitStack) -> None:
        daemon, config = self.daemon, self.daemon.config
        artifacts, scoring = config.artifacts, config.scoring
        self.artifacts = (
            Artifacts(artifacts.dir, artifacts.max_count, artifacts.retention, daemon.clock)
            if artifacts.enabled
            else None
        )
        self.journal = Journal(journal_path(config), scoring.queue_size, scoring.queue_max_bytes)
        stack.callback(self.journal.close)
        spool = config.store.path.parent / "spool"
        if spool.is_dir():
            await anyio.to_thread.run_sync(take_over_spool, spool, self.journal)
        self.supervisor = ScoringSupervisor(
            self.journal,
            ScorerChild(self.scorer_factory or ScorerFromConfig(scoring), child_settings(config)),
            Recorder(
                daemon.store,
                daemon.metrics,
                self._listeners(),
                listener_error_counter(daemon.registry),
                daemon.clock,
            ),
            daemon.metrics,
            batch_size=scoring.batch_size,
            batch_timeout=scoring.batch_timeout,
        )
        daemon.metrics.track_ocr(self.supervisor.ocr_stats)
        daemon.metrics.queue_capacity.set(scoring.queue_size)
        self.intake = Intake(
            self.journal,
            daemon.metrics,
            readings=daemon.rules,
            max_pixels=scoring.max_pixels,
            clock=daemon.clock,
            on_journaled=self.supervisor.wake,
        )

    def _listeners(self) -> list[ScoreListener]:
        daemon, rules = self.daemon, self.daemon.rules
        self.embeddings = make_embedding_monitor(
            daemon.config, daemon.composition_metrics, rules, daemon.clock
        )
        listeners: list[ScoreListener] = [ScoreObserver(daemon.composition_metrics.observe)]
        if self.embeddings is not None:
            listeners.append(self.embeddings)
        listeners.append(StepsObserver(daemon.metrics))  # driftmon_generation_steps
        listeners.append(RuleReadings(rules))
        return listeners

    async def start_thread(self, stack: AsyncExitStack) -> None:
        self.supervisor.start()
        self.daemon.metrics.ready.set(1)
        stack.push_async_callback(self._drain)

    async def _drain(self) -> None:
        self.daemon.metrics.ready.set(0)
        grace = self.daemon.shutdown_time_left()
        left = await anyio.to_thread.run_sync(self.supervisor.stop, grace)
        if left:
            log.warning("samples_left_in_journal", count=left, journal=str(self.journal.path))


def journal_path(config: Config) -> Path:
    """The intake journal: `journal.db` beside the store."""
    return config.store.path.parent / "journal.db"


def child_settings(config: Config) -> ChildSettings:
    """What the scorer process needs from the configuration."""
    artifacts, scoring = config.artifacts, config.scoring
    kept = (str(artifacts.dir), artifacts.max_count, artifacts.retention) if artifacts.enabled else None
    return ChildSettings(
        scoring.max_pixels,
        scoring.failing_below,
        scoring.cpu_threads,
        kept,
        log_level=config.logging.level,
        log_format=config.logging.format,
    )


class HttpPart:
    """Step 6: the routes' state, the app and the uvicorn server (bound by `serve`)."""

    state: AppState
    server: uvicorn.Server

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    async def start(self, stack: AsyncExitStack) -> None:
        daemon, config = self.daemon, self.daemon.config
        self.state = AppState(
            scorer_state=daemon.scorer_state,
            store=daemon.store,
            registry=daemon.registry,
            max_body_bytes=config.sources.push.max_body_bytes,
            sample_ratio=config.sources.push.sample_ratio,
            push_enabled=config.sources.push.enabled,
            auth_token=read_token(config.server.auth_token_file),
            public_url=daemon.url,
            rules=daemon.rules,
            intake=daemon.intake,
        )
        server_config = uvicorn.Config(
            make_app(self.state),
            host=config.server.host,
            port=daemon.port,
            log_config=None,
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self.server = _Server(server_config)


class ProbePart:
    """Step 7 (`start`): the probe set and its generator; step 10 (`schedule`): the probe job."""

    prober: Prober | None = None

    def __init__(self, daemon: Daemon, transport: httpx.AsyncBaseTransport | None) -> None:
        self.daemon = daemon
        self.transport = transport

    async def start(self, stack: AsyncExitStack) -> None:
        probe = self.daemon.config.sources.probe
        if not probe.enabled:
            return
        from driftmon.sources.probe import Prober

        self.prober = Prober.from_config(
            probe,
            self.daemon.submit_probe,
            registry=self.daemon.registry,
            on_outcome=self.daemon.record_probe_outcome,
            transport=self.transport,
        )

    async def schedule(self, stack: AsyncExitStack) -> None:
        if self.prober is None:
            return
        self.prober.start(first_run_in=PROBE_FIRST_RUN_IN, scheduler=self.daemon.scheduler)
        stack.push_async_callback(self._shutdown)

    async def _shutdown(self) -> None:
        assert self.prober is not None
        with contextlib.suppress(Exception):
            await self.prober.shutdown()


class TapPart:
    """Step 6b: the tap (`sources.tap`), listening before the models load; its teardown stops
    it after the scoring thread has drained (the generator stays reachable meanwhile)."""

    tap: Tap | None = None

    def __init__(self, daemon: Daemon, port: int | None) -> None:
        self.daemon = daemon
        self.port = port

    async def start(self, stack: AsyncExitStack) -> None:
        config = self.daemon.config.sources.tap
        if not config.enabled:
            return
        from driftmon.sources.tap import Tap

        daemon = self.daemon
        self.tap = Tap(
            config, daemon.intake.offer, count=daemon.metrics.count, registry=daemon.registry, port=self.port
        )
        await self.tap.start(stack)


class _Server(uvicorn.Server):
    """uvicorn's server without its signal capture: it re-raises SIGTERM when `serve` returns,
    which would kill the process before the daemon's ordered shutdown has run."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# -- the daemon ----------------------------------------------------------------------------------


class Daemon:
    """Everything `driftmon run` runs, built from one Config; `serve()` until `stop()` or SIGTERM.

    Construction does no I/O (see the module docstring); the parts' objects (`store`, `rules`,
    `supervisor`, ...) exist once `start` has run.
    """

    def __init__(
        self,
        config: Config,
        *,
        port: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        nvml: Any = None,
        scorer_factory: Callable[[], Scorer] | None = None,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
        tap_port: int | None = None,
    ) -> None:
        self.config = config
        self.port = config.server.port if port is None else port
        self.clock = clock
        self.url = public_url(config, self.port)
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry, config.metrics.max_model_versions)
        self.composition_metrics = CompositionMetrics(self.registry)
        self.scheduler = Scheduler()
        self.store_part = StorePart(config)
        self.gpu_part = GpuPart(self.registry, nvml)
        self.rules_part = RulesPart(config, self.store_part, self.registry, clock)
        self.notifier_part = NotifierPart(self, transport, environ)
        self.scoring = ScoringPart(self, scorer_factory)
        self.http = HttpPart(self)
        self.probes = ProbePart(self, transport)
        self.tap_part = TapPart(self, tap_port)
        self._stop_requested = False
        self._stop_at: float | None = None

    # -- the parts' objects, once their step has run -------------------------------------------

    @property
    def store(self) -> Store:
        return self.store_part.store

    @property
    def gpu(self) -> GpuCollector:
        return self.gpu_part.collector

    @property
    def rules(self) -> RuleRuntime:
        return self.rules_part.runtime

    @property
    def notifier(self) -> Notifier:
        return self.notifier_part.notifier

    @property
    def supervisor(self) -> ScoringSupervisor:
        return self.scoring.supervisor

    @property
    def journal(self) -> Journal:
        return self.scoring.journal

    @property
    def intake(self) -> Intake:
        return self.scoring.intake

    @property
    def embeddings(self) -> EmbeddingMonitor | None:
        return self.scoring.embeddings

    @property
    def prober(self) -> Prober | None:
        return self.probes.prober

    def steps(self) -> list[tuple[str, Callable[[AsyncExitStack], Any]]]:
        """The start-up order (the module docstring's table)."""
        return [
            ("store", self.store_part.start),
            ("gpu", self.gpu_part.start),
            ("rules", self.rules_part.start),
            ("notifier", self.notifier_part.start),
            ("scoring", self.scoring.start),
            ("http", self.http.start),
            ("tap", self.tap_part.start),
            ("probes", self.probes.start),
            ("scheduler", self.start_scheduler),
            ("scoring thread", self.scoring.start_thread),
            ("probe job", self.probes.schedule),
        ]

    async def start(self, stack: AsyncExitStack) -> None:
        """Start every part in order; unwinding `stack` shuts them down in reverse."""
        for _name, start in self.steps():
            await start(stack)

    async def start_scheduler(self, stack: AsyncExitStack) -> None:
        """Step 8: the periodic jobs on the one scheduler."""
        scheduler = self.scheduler
        scheduler.every("rules", RULE_TICK, self.rule_tick)
        scheduler.every("gpu-signals", GPU_SIGNAL_INTERVAL, self.record_gpu_signals)
        scheduler.every("maintenance", MAINTENANCE_INTERVAL, self.maintain)
        if self.embeddings is not None:
            interval = self.config.rules.evaluation_interval
            scheduler.every("embedding-drift", interval, self.evaluate_embedding_drift, first_in=interval)
        await scheduler.start(stack)

    # -- jobs ---------------------------------------------------------------------------------

    async def rule_tick(self) -> None:
        """Record the queue fill, evaluate the rules that are due, hand the alerts to the notifier."""
        try:
            now = self.clock()
            journal = self.journal
            depth = await anyio.to_thread.run_sync(journal.depth)
            up = 1.0 if self.supervisor.status.state == "up" else 0.0
            self.rules.record(now, {}, {"queue_fill_ratio": depth / journal.max_entries, "scorer_up": up})
            alerts = await anyio.to_thread.run_sync(self.rules.evaluate, now)
            await anyio.to_thread.run_sync(self.notifier.submit, alerts, now)
        except Exception as exc:
            log.error("rule_loop_failed", error=repr(exc))

    async def record_gpu_signals(self) -> None:
        """The GPU readings as rule signals (nothing where there is no GPU)."""
        from driftmon.gpu import gpu_signals

        with contextlib.suppress(Exception):
            now = self.clock()
            for labels, values in await anyio.to_thread.run_sync(gpu_signals, self.gpu):
                self.rules.record(now, labels, values)

    async def maintain(self) -> None:
        """Retention: samples older than `store.retention`, pictures over their limits."""
        try:
            cutoff = self.clock() - self.config.store.retention
            removed = await anyio.to_thread.run_sync(self.store.delete_older_than, cutoff)
            artifacts = self.scoring.artifacts
            pruned = await anyio.to_thread.run_sync(artifacts.prune) if artifacts else 0
            if removed or pruned:
                log.info("retention", samples_removed=removed, artifacts_removed=pruned)
        except Exception as exc:
            log.error("maintenance_failed", error=repr(exc))

    async def evaluate_embedding_drift(self) -> None:
        """Compare recent embeddings with the reference version's and publish the result."""
        if self.embeddings is None:
            return
        try:
            await anyio.to_thread.run_sync(self.embeddings.evaluate)
        except Exception as exc:
            log.error("embedding_drift_failed", error=repr(exc))

    # -- callbacks ----------------------------------------------------------------------------

    async def submit_probe(self, encoded_image: bytes, meta: SampleMeta, source: str = "probe") -> None:
        """A probe's image through the one door; a refusal (Rejected, Shed) raises, so the prober
        counts the sample as dropped."""
        await self.intake.offer(Offer(source, encoded_image, meta))

    def record_probe_outcome(self, probe: str, ok: bool, reason: str | None = None) -> None:
        """Probe outcomes become the rule signal `probe_failure` (0 or 1)."""
        self.rules.record(
            self.clock(), {"source": "probe", "probe": probe}, {"probe_failure": 0.0 if ok else 1.0}
        )

    def worst_overlay_url(self, labels: Mapping[str, str]) -> str | None:
        """The overlay of the lowest-fidelity recent failing sample of the alert's model version."""
        recent = self.store.recent(100, labels.get("model_version"))
        failing = [s for s in recent if s.overlay_path and s.scores.get(TEXT_FIDELITY) is not None]
        if not failing:
            return None
        worst = min(failing, key=lambda s: s.scores[TEXT_FIDELITY] or 0.0)
        return f"{self.url}/v1/samples/{worst.id}/overlay.png"

    def reload_rules(self) -> bool:
        """Re-read the rule files (SIGHUP); a broken file keeps the previous rules and says why."""
        if not hasattr(self.rules_part, "runtime"):
            return False
        ok = bool(self.rules.reload())
        if ok:
            log.info("rules_reloaded")
        else:
            log.error("rules_reload_failed", error=self.rules.rules_status().get("reload_error"))
        return ok

    # -- life cycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the server to shut down (what SIGTERM does); during start-up, once it is done."""
        self._stop_requested = True
        if self._stop_at is None:
            self._stop_at = time.monotonic()
        server = getattr(self.http, "server", None)
        if server is not None:
            server.should_exit = True

    @property
    def started(self) -> bool:
        server = getattr(self.http, "server", None)
        return server is not None and server.started

    async def serve(self) -> None:
        """Start every part, serve until stopped, then unwind in reverse order."""
        self._install_signal_handlers()
        async with AsyncExitStack() as stack:
            await self.start(stack)
            grace = self.config.server.shutdown_grace
            stack.callback(lambda: log.info("driftmon_stopping", grace_seconds=grace))
            if not self._stop_requested:  # a signal during start-up: unwind at once
                log.info("driftmon_starting", url=self.url, port=self.port)
                await self.http.server.serve()
        log.info("driftmon_stopped")

    def scorer_state(self) -> dict[str, Any]:
        """The scorer process's state and the journal's depth, for /readyz's body."""
        state = self.supervisor.status.as_json()
        with contextlib.suppress(Exception):
            state["journal_depth"] = self.journal.depth()
        return state

    def shutdown_time_left(self) -> float:
        """What is left of `server.shutdown_grace` since the stop was asked for, less a second
        for the steps that unwind after scoring."""
        grace = self.config.server.shutdown_grace
        spent = 0.0 if self._stop_at is None else time.monotonic() - self._stop_at
        return max(0.0, grace - spent - SHUTDOWN_RESERVE)

    def on_signal(self) -> None:
        """SIGTERM/SIGINT: the first stops in order, capped at `server.shutdown_grace` (then the
        process exits, what is not scored staying in the journal); a second one exits at once."""
        if self._stop_requested:
            log.warning("driftmon_exit_now", reason="second signal; the intake journal keeps the rest")
            os._exit(1)
        self.stop()
        grace = self.config.server.shutdown_grace
        timer = threading.Timer(grace, self._grace_exceeded)
        timer.daemon = True
        timer.start()

    def _grace_exceeded(self) -> None:
        depth: int | str = "unknown"
        with contextlib.suppress(Exception):
            depth = self.journal.depth()
        log.warning("shutdown_grace_exceeded", grace_seconds=self.config.server.shutdown_grace,
                    left_in_journal=depth)
        with contextlib.suppress(Exception):
            self.supervisor.child.kill()
        os._exit(1)

    def _install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT ask the server to stop (the stack then unwinds in order, within
        `server.shutdown_grace`; a second signal exits at once); SIGHUP reloads the rule files."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.on_signal)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self.reload_rules)
