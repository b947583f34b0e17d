"""After scoring: one listener protocol; a listener that raises cannot break scoring (the
supervisor's Recorder tells the listeners once the row is committed)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from driftmon.config import Config
from driftmon.daemon import Daemon
from driftmon.drift.embedding import EmbeddingDriftTracker
from driftmon.drift.monitor import EmbeddingMonitor
from driftmon.metrics import Metrics
from driftmon.pipeline import RuleReadings, Scored, ScoreObserver
from driftmon.samples import Sample, SampleMeta, ScoredSample
from driftmon.scoring.composition_metrics import CompositionMetrics
from driftmon.store import Entry, Store
from driftmon.worker.child import Outcome
from driftmon.worker.supervisor import Recorder, listener_error_counter
from tests.fakes.scorer import FakeScorer

EMBEDDING = np.ones(4, dtype=np.float32)
#: what the scorer process sends back for a sample that reads as expected, with an embedding
SCORED = Outcome(1, "scored", scores={"text_fidelity": 1.0, "legibility": 0.5}, ocr_text="OPEN",
                 expected_text="OPEN", embedding=EMBEDDING)  # fmt: skip


class Broken:
    def on_scored(self, scored: Scored) -> None:
        raise RuntimeError("listener bug")


class Heard:
    def __init__(self) -> None:
        self.items: list[Scored] = []

    def on_scored(self, scored: Scored) -> None:
        self.items.append(scored)


class Readings:
    def __init__(self) -> None:
        self.items: list[tuple[float, dict[str, str], dict[str, float | None]]] = []

    def record(self, ts: float, labels: Mapping[str, str], values: Mapping[str, float | None]) -> None:
        self.items.append((ts, dict(labels), dict(values)))


def test_a_broken_listener_is_logged_counted_and_the_others_still_hear(tmp_path: Path) -> None:
    """Listeners run in order; one raising is logged and counted, the sample stays scored and
    stored, and the listeners after it (observer, readings, the caller's) still hear it."""
    registry = CollectorRegistry()
    store = Store(tmp_path / "db.sqlite")
    observed: list[tuple[str, str, dict[str, float | None]]] = []
    readings, heard = Readings(), Heard()
    listeners = [
        Broken(),
        ScoreObserver(lambda source, version, scores: observed.append((source, version, dict(scores)))),
        RuleReadings(readings),
        heard,
    ]
    recorder = Recorder(store, Metrics(registry), listeners, listener_error_counter(registry))
    entry = Entry(1, Sample("s1", "push", 1000.0, SampleMeta(model_version="v1"), None, b"png"), 1, None)
    with capture_logs() as logs:
        recorder.record(entry, SCORED)
    assert heard.items, "the listener after the broken one was never told"
    assert store.get("s1") is not None
    assert heard.items[0].sample.id == "s1" and heard.items[0].version == "v1"
    assert heard.items[0].embedding is EMBEDDING
    assert observed == [("push", "v1", {"text_fidelity": 1.0, "legibility": 0.5})]
    assert [labels["model_version"] for _, labels, _ in readings.items] == ["v1"]
    assert readings.items[0][2]["text_fidelity"] == 1.0
    failed = [e for e in logs if e["event"] == "listener_failed"]
    assert [(e["listener"], e["id"]) for e in failed] == [("Broken", "s1")]
    assert registry.get_sample_value("driftmon_listener_errors_total", {"listener": "Broken"}) == 1.0


@pytest.mark.anyio
async def test_the_daemon_tells_the_rules_last_and_counts_listener_errors(tmp_path: Path) -> None:
    """The daemon's recorder hears the composition observer first and ends with a RuleReadings
    over its rules (what `sink=` of the in-process worker added); its listener errors are
    `driftmon_listener_errors_total{listener}` in the daemon's registry."""
    config = Config.model_validate(
        {"store": {"path": str(tmp_path / "data" / "driftmon.db")}, "artifacts": {"enabled": False}}
    )
    daemon = Daemon(config, port=0, nvml=False, scorer_factory=FakeScorer, environ={})
    async with AsyncExitStack() as stack:
        for name, start in daemon.steps():
            if name == "http":  # the scoring part is built; its thread is never started
                break
            await start(stack)
        listeners = daemon.supervisor.recorder.listeners
        assert isinstance(listeners[0], ScoreObserver)
        assert isinstance(listeners[-1], RuleReadings) and listeners[-1].sink is daemon.rules
        daemon.supervisor.recorder.listener_errors("Broken")
    assert daemon.registry.get_sample_value("driftmon_listener_errors_total", {"listener": "Broken"}) == 1.0


def test_embedding_monitor_listens_to_embeddings_by_version(tmp_path: Path) -> None:
    """EmbeddingMonitor.on_scored keeps a sample's embedding under its version label; a sample
    without one is skipped."""
    monitor = EmbeddingMonitor(
        EmbeddingDriftTracker(window=10, min_samples=2), CompositionMetrics(CollectorRegistry()), Readings()
    )
    sample = ScoredSample("s1", "push", 1.0, 2.0, SampleMeta(), {}, "", "", {}, False)
    for _ in range(2):
        monitor.on_scored(Scored(sample, "other", EMBEDDING))
    monitor.on_scored(Scored(sample, "v2", None))
    assert monitor.references() == {"other": None}
    assert {version: info.count for version, info in monitor._versions.items()} == {"other": 2}
