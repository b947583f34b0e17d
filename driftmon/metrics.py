"""Metric families; their names and labels are a contract (README, "Metrics"; changed only with a
CHANGELOG entry)."""

from __future__ import annotations

import platform
import threading
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily

from driftmon import __version__
from driftmon.signals import BY_NAME, PROMPT_TRUNCATED, READERS, SAMPLES, TEXT, Metric, of

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
#: every sample ends in exactly one (lost: scored, but its row could not be written)
OUTCOMES = ("scored", "unsampled", "shed", "rejected", "failed", "lost")
#: per-sample text scores exported as histograms (`driftmon_<name>_ratio`)
TEXT_HISTOGRAMS = tuple(s.name for s in of(TEXT) if s.metric and s.metric.type == "histogram")
#: per-sample text flags (and the readers' disagreement) exported as counters of the samples where they hold
TEXT_COUNTERS = tuple(
    s.name for s in (*of(TEXT), *of(READERS)) if s.metric and s.metric.type == "counter"
)
OTHER = "other"


def histogram(metric: Metric, registry: CollectorRegistry) -> Histogram:
    """The Histogram a catalogue Metric describes, registered on `registry`."""
    assert metric.type == "histogram", metric
    return Histogram(
        metric.name, metric.help, metric.labels, buckets=metric.buckets, registry=registry
    )


def counter(metric: Metric, registry: CollectorRegistry) -> Counter:
    """The Counter a catalogue Metric describes (its name ends in ``_total``)."""
    assert metric.type == "counter", metric
    return Counter(metric.name, metric.help, metric.labels, registry=registry)


def gauge(metric: Metric, registry: CollectorRegistry) -> Gauge:
    """The Gauge a catalogue Metric describes."""
    assert metric.type == "gauge", metric
    return Gauge(metric.name, metric.help, metric.labels, registry=registry)


def _metric(name: str) -> Metric:
    metric = BY_NAME[name].metric
    assert metric is not None, f"{name} feeds no metric"
    return metric


class LabelCap:
    """Keeps a label's distinct values bounded: the first `limit` values pass, later ones → other."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return OTHER


class _OcrCollector:
    """`driftmon_ocr_oom_retries_total`: CUDA out-of-memory errors after which a batch was halved."""

    def __init__(self, engine: object) -> None:
        self.engine = engine

    def describe(self) -> list[CounterMetricFamily]:
        return [self._family(0.0)]

    def collect(self) -> list[CounterMetricFamily]:
        return [self._family(float(getattr(self.engine, "oom_retries", 0)))]

    @staticmethod
    def _family(value: float) -> CounterMetricFamily:
        return CounterMetricFamily(
            "driftmon_ocr_oom_retries",
            "CUDA out-of-memory errors after which the OCR batch was halved.",
            value=value,
        )


class Metrics:
    """All of the daemon's own metric families, registered on one registry."""

    def __init__(self, registry: CollectorRegistry, max_model_versions: int = 20) -> None:
        self.registry = registry
        self.model_version = LabelCap(max_model_versions)
        self.samples = counter(SAMPLES, registry)
        self.score_histograms = {name: histogram(_metric(name), registry) for name in TEXT_HISTOGRAMS}
        self.score_counters = {name: counter(_metric(name), registry) for name in TEXT_COUNTERS}
        self.latency = histogram(_metric("latency_seconds"), registry)
        self.steps = histogram(_metric("steps"), registry)
        self.prompt_truncation = counter(_metric(PROMPT_TRUNCATED), registry)
        self.stage_duration = Histogram(
            "driftmon_scoring_duration_seconds",
            "Time spent scoring a batch, by stage.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge("driftmon_queue_depth", "Samples waiting to be scored.", registry=registry)
        self.queue_capacity = Gauge(
            "driftmon_queue_capacity", "Capacity of the scoring queue.", registry=registry
        )
        self.batch_size = Histogram(
            "driftmon_scoring_batch_size",
            "Samples per scoring batch.",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=registry,
        )
        self.store_errors = Counter(
            "driftmon_store_write_errors_total",
            "Store writes that failed (each retry counts).",
            registry=registry,
        )
        self.artifacts = Counter(
            "driftmon_artifacts_written_total",
            "Failing samples whose image and overlay were kept.",
            registry=registry,
        )
        self.ready = Gauge(
            "driftmon_ready", "1 when models are loaded and the store is open.", registry=registry
        )
        self.scorer_up = Gauge(
            "driftmon_scorer_up",
            "1 while the scorer process runs with its models loaded (0: starting, restarting).",
            registry=registry,
        )
        self.scorer_restarts = Counter(
            "driftmon_scorer_restarts_total",
            "Times the scorer process died, timed out or failed to load and was started again.",
            registry=registry,
        )
        self.build = Info("driftmon_build", "Build information.", registry=registry)
        self.describe_build()

    def describe_build(self, **extra: str) -> None:
        """Set `driftmon_build_info`: version and Python, plus e.g. the OCR engine and device."""
        self.build.info({"version": __version__, "python": platform.python_version(), **extra})

    def track_ocr(self, engine: object) -> None:
        """Export the OCR engine's out-of-memory retries (read from the engine at scrape time)."""
        self.registry.register(_OcrCollector(engine))

    def count(self, source: str, model_version: str, outcome: str, amount: float = 1.0) -> None:
        """Count samples of one outcome (label values bounded)."""
        self.samples.labels(source, self.model_version(model_version), outcome).inc(amount)

    def observe_scores(
        self,
        source: str,
        model_version: str,
        scores: Mapping[str, float | None],
        latency_seconds: float | None,
    ) -> str:
        """Record one scored sample's scores and latency; returns the (bounded) model_version label."""
        version = self.model_version(model_version)
        self.observe_contracts(source, version, None, scores.get(PROMPT_TRUNCATED))
        for name, histogram in self.score_histograms.items():
            value = scores.get(name)
            if value is not None:
                histogram.labels(source, version).observe(value)
        for name, counter in self.score_counters.items():
            value = scores.get(name)
            if value is not None and value == _metric(name).counts:
                counter.labels(source, version).inc()
        if latency_seconds is not None and latency_seconds >= 0:
            self.latency.labels(source, version).observe(latency_seconds)
        self.samples.labels(source, version, "scored").inc()
        return version

    def observe_contracts(
        self, source: str, version: str, steps: int | None, truncated: float | None
    ) -> None:
        """The cost and token contracts of one sample: its steps (None: not reported; observed by
        driftmon.tokens.live.StepsObserver) and whether its expected text was cut (None: not
        checked; from its scores in `observe_scores`)."""
        if steps is not None and steps >= 0:
            self.steps.labels(source, version).observe(steps)
        if truncated is not None:
            outcome = "truncated" if truncated == 1.0 else "intact"
            self.prompt_truncation.labels(source, version, outcome).inc()
