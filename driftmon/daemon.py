"""Wiring and lifecycle: builds every part from the configuration, serves, and shuts down in order.

Shutdown (SIGTERM or `stop()`): uvicorn stops accepting and finishes requests in flight; the
prober stops; the scoring worker scores what is queued until `server.shutdown_grace` runs out and
spools the rest to disk (scored after the next start); the notifier stops, leaving undelivered
notifications in the outbox; the store closes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import structlog
import uvicorn
from prometheus_client import CollectorRegistry

from driftmon.artifacts import Artifacts
from driftmon.config import Config
from driftmon.metrics import Metrics
from driftmon.pipeline import ScoringWorker, Spool
from driftmon.samples import SampleMeta
from driftmon.scoring.scorer import Scorer
from driftmon.server import AppState, accept, make_app
from driftmon.store import Store

log = structlog.get_logger("driftmon.daemon")

MAINTENANCE_INTERVAL = 600.0
GPU_SIGNAL_INTERVAL = 15.0
RULE_TICK = 1.0
SWITCH_INTERVAL = 0.001


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


def make_scorer_factory(config: Config, metrics: Metrics) -> Callable[[], Scorer]:
    """Builds the OCR engine and composition checks inside the scoring thread."""

    def build() -> Scorer:
        from driftmon.scoring.composition import CompositionScorer
        from driftmon.scoring.ocr import make_ocr_engine

        scoring = config.scoring
        ocr = make_ocr_engine(
            scoring.engine, model_dir=scoring.model_dir, device=scoring.device, work_dir=scoring.work_dir
        )
        if hasattr(ocr, "max_batch"):
            ocr.max_batch = scoring.batch_size
        metrics.track_ocr(ocr)
        composition = CompositionScorer(scoring.composition, device=ocr.device)
        metrics.describe_build(ocr_engine=ocr.name, device=ocr.device)
        return Scorer(
            ocr,
            scoring.case_sensitive,
            composition,
            lambda stage, seconds: metrics.stage_duration.labels(stage).observe(seconds),
        )

    return build


class _Server(uvicorn.Server):
    """uvicorn's server without its signal capture: it re-raises SIGTERM when `serve` returns,
    which would kill the process before the daemon's ordered shutdown has run."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Daemon:
    """Everything `driftmon run` runs, built from one Config; `serve()` until `stop()` or SIGTERM."""

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
    ) -> None:
        from driftmon.alerting.notifier import Notifier
        from driftmon.gpu import GpuCollector, open_nvml
        from driftmon.rules.runtime import RuleRuntime

        self.config = config
        self.port = config.server.port if port is None else port
        self.clock = clock
        self.url = public_url(config, self.port)
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry, config.metrics.max_model_versions)
        self.store = Store(config.store.path, config.store.write_retries)
        self.rules = RuleRuntime(config, self.store, clock=clock)
        self.rules.register(self.registry)
        self.notifier = Notifier.from_config(
            config.alerting,
            self.store,
            evaluation_interval=config.rules.evaluation_interval,
            public_url=self.url,
            registry=self.registry,
            transport=transport,
            clock=clock,
            overlay_url=self.worst_overlay_url,
            environ=environ,
        )
        self.gpu = GpuCollector(open_nvml(nvml) if nvml is not False else None, registry=self.registry)
        self._register_composition_metrics()
        artifacts = config.artifacts
        self.artifacts = (
            Artifacts(artifacts.dir, artifacts.max_count, artifacts.retention, clock)
            if artifacts.enabled
            else None
        )
        self.spool = Spool(config.store.path.parent / "spool")
        self.embeddings = self._make_embedding_monitor()
        self.worker = ScoringWorker(
            scorer_factory or make_scorer_factory(config, self.metrics),
            self.store,
            self.metrics,
            self.artifacts,
            sink=self.rules,
            queue_size=config.scoring.queue_size,
            queue_max_bytes=config.scoring.queue_max_bytes,
            max_pixels=config.scoring.max_pixels,
            cpu_threads=config.scoring.cpu_threads,
            batch_size=config.scoring.batch_size,
            failing_below=config.scoring.failing_below,
            clock=clock,
            observers=[self.composition_metrics.observe],
            on_embedding=self.embeddings.add if self.embeddings is not None else None,
        )
        self.state = AppState(
            worker=self.worker,
            store=self.store,
            registry=self.registry,
            max_body_bytes=config.sources.push.max_body_bytes,
            max_pixels=config.scoring.max_pixels,
            sample_ratio=config.sources.push.sample_ratio,
            push_enabled=config.sources.push.enabled,
            auth_token=read_token(config.server.auth_token_file),
            public_url=self.url,
            rules=self.rules,
            clock=clock,
        )
        self.app = make_app(self.state)
        self.prober = self._make_prober(transport)
        self._server: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._delivery: asyncio.Task[None] | None = None

    def _register_composition_metrics(self) -> None:
        from driftmon.scoring.composition_metrics import CompositionMetrics

        self.composition_metrics = CompositionMetrics(self.registry)

    def _make_embedding_monitor(self) -> Any:
        composition = self.config.scoring.composition
        if not composition.embedding_drift:
            return None
        from driftmon.embeddings import EmbeddingMonitor
        from driftmon.scoring.embedding_drift import EmbeddingDriftTracker

        tracker = EmbeddingDriftTracker(
            composition.drift_window,
            composition.drift_min_samples,
            composition.drift_distance_threshold,
            composition.drift_auc_threshold,
            composition.drift_alpha,
        )
        return EmbeddingMonitor(tracker, self.composition_metrics, self.rules, self.clock)

    async def _embedding_loop(self) -> None:
        while self.embeddings is not None:
            await asyncio.sleep(self.config.rules.evaluation_interval)
            try:
                await anyio.to_thread.run_sync(self.embeddings.evaluate)
            except Exception as exc:
                log.error("embedding_drift_failed", error=repr(exc))

    def _make_prober(self, transport: httpx.AsyncBaseTransport | None) -> Any:
        probe = self.config.sources.probe
        if not probe.enabled:
            return None
        from driftmon.sources.probe import Prober

        return Prober.from_config(
            probe,
            self.submit_probe,
            registry=self.registry,
            on_outcome=self.record_probe_outcome,
            transport=transport,
        )

    async def submit_probe(self, encoded_image: bytes, meta: SampleMeta, source: str = "probe") -> None:
        """Queue a probe's image through the push path (validation, counting); a rejected image or
        a full queue raises, so the prober counts the sample as dropped."""
        await accept(self.state, encoded_image, meta, source)

    def record_probe_outcome(self, probe: str, ok: bool, reason: str | None = None) -> None:
        """Probe outcomes become the rule signal `probe_failure` (0 or 1)."""
        self.rules.record(
            self.clock(), {"source": "probe", "probe": probe}, {"probe_failure": 0.0 if ok else 1.0}
        )

    def worst_overlay_url(self, labels: Mapping[str, str]) -> str | None:
        """The overlay of the lowest-fidelity recent failing sample of the alert's model version."""
        recent = self.store.recent(100, labels.get("model_version"))
        failing = [s for s in recent if s.overlay_path and s.scores.get("text_fidelity") is not None]
        if not failing:
            return None
        worst = min(failing, key=lambda s: s.scores["text_fidelity"] or 0.0)
        return f"{self.url}/v1/samples/{worst.id}/overlay.png"

    # -- periodic work ----------------------------------------------------------------------

    async def _rule_loop(self) -> None:
        while True:
            try:
                now = self.clock()
                self.rules.record(
                    now, {}, {"queue_fill_ratio": self.worker.queue.qsize() / self.worker.queue.maxsize}
                )
                alerts = await anyio.to_thread.run_sync(self.rules.evaluate, now)
                await anyio.to_thread.run_sync(self.notifier.submit, alerts, now)
            except Exception as exc:
                log.error("rule_loop_failed", error=repr(exc))
            await asyncio.sleep(RULE_TICK)

    async def _gpu_loop(self) -> None:
        from driftmon.gpu import gpu_signals

        while True:
            with contextlib.suppress(Exception):
                now = self.clock()
                for labels, values in await anyio.to_thread.run_sync(gpu_signals, self.gpu):
                    self.rules.record(now, labels, values)
            await asyncio.sleep(GPU_SIGNAL_INTERVAL)

    async def _maintenance_loop(self) -> None:
        while True:
            try:
                cutoff = self.clock() - self.config.store.retention
                removed = await anyio.to_thread.run_sync(self.store.delete_older_than, cutoff)
                pruned = await anyio.to_thread.run_sync(self.artifacts.prune) if self.artifacts else 0
                if removed or pruned:
                    log.info("retention", samples_removed=removed, artifacts_removed=pruned)
            except Exception as exc:
                log.error("maintenance_failed", error=repr(exc))
            await asyncio.sleep(MAINTENANCE_INTERVAL)

    def _respool(self) -> None:
        restored = 0
        for sample in self.spool.drain():
            restored += self.worker.submit(sample)
        if restored:
            log.info("spool_restored", samples=restored)

    # -- lifecycle --------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the server to shut down (what SIGTERM does)."""
        if self._server is not None:
            self._server.should_exit = True

    @property
    def started(self) -> bool:
        return self._server is not None and self._server.started

    async def serve(self) -> None:
        """Serve until stopped, then shut down in order."""
        # the scoring thread holds the GIL in Python stretches; a shorter switch interval lets the
        # event loop answer between them (intake p99), at a negligible cost in scoring throughput
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.worker.start()
        self._respool()
        loops = (
            self._rule_loop(),
            self._gpu_loop(),
            self._maintenance_loop(),
            self._embedding_loop(),
        )
        self._tasks = [asyncio.create_task(loop) for loop in loops]
        # delivery stops through notifier.close() (bounded grace), not by cancellation
        self._delivery = asyncio.create_task(self.notifier.run())
        if self.prober is not None:
            self.prober.start(first_run_in=1.0)
        server_config = uvicorn.Config(
            self.app,
            host=self.config.server.host,
            port=self.port,
            log_config=None,
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self._server = _Server(server_config)
        self._install_signal_handlers()
        log.info("driftmon_starting", url=self.url, port=self.port)
        try:
            await self._server.serve()
        finally:
            await self._shutdown()

    def _install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT only ask the server to stop (`_shutdown` then runs in order); SIGHUP
        reloads the rule files."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self.reload_rules)

    def reload_rules(self) -> bool:
        """Re-read the rule files (SIGHUP); a broken file keeps the previous rules and says why."""
        ok = bool(self.rules.reload())
        if ok:
            log.info("rules_reloaded")
        else:
            log.error("rules_reload_failed", error=self.rules.rules_status().get("reload_error"))
        return ok

    async def _shutdown(self) -> None:
        log.info("driftmon_stopping", grace_seconds=self.config.server.shutdown_grace)
        if self.prober is not None:
            with contextlib.suppress(Exception):
                await self.prober.shutdown()
        spooled = await anyio.to_thread.run_sync(
            self.worker.stop, self.config.server.shutdown_grace, self.spool
        )
        if spooled:
            log.warning("samples_spooled", count=spooled, dir=str(self.spool.directory))
        for task in self._tasks:
            task.cancel()
        await self.notifier.close()
        for task in (*self._tasks, *([self._delivery] if self._delivery else [])):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.rules.close()
        self.gpu.close()
        self.store.close()
        log.info("driftmon_stopped")
