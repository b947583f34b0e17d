"""The daemon's life cycle: built without I/O, started in order on an AsyncExitStack, unwound in
reverse; its periodic jobs on one scheduler, driven here by calling them with a fake clock."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
from structlog.testing import capture_logs

from driftmon.alerting.notifier import Notifier
from driftmon.config import Config
from driftmon.daemon import Daemon
from driftmon.gpu import GpuCollector
from driftmon.rules.runtime import RuleRuntime
from driftmon.samples import SampleMeta, ScoredSample
from driftmon.scheduler import Scheduler
from driftmon.sources.probe import Prober
from driftmon.store import Store
from driftmon.worker.supervisor import ScoringSupervisor
from tests.imaging import png_bytes

pytestmark = pytest.mark.anyio

PNG = png_bytes(np.full((32, 32, 3), 200, np.uint8))
NOW = 2_000_000_000.0
QUEUE_RULE = """
groups:
  - name: queue
    interval: 1s
    rules:
      - alert: QueueFull
        expr: queue_fill_ratio > 0.5
"""


class FakeScorer:
    """Scores nothing: enough for the worker to load and warm up."""

    def score_batch(self, images: list[Any], expected: list[Any], metas: Any = None) -> list[Any]:
        return []


def settings(tmp_path: Path, **sections: Any) -> Config:
    rules = tmp_path / "rules.yaml"
    if not rules.exists():
        rules.write_text(QUEUE_RULE)
    data: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "shutdown_grace": 1},
        "store": {"path": str(tmp_path / "data" / "driftmon.db")},
        "artifacts": {"dir": str(tmp_path / "data" / "artifacts")},
        "rules": {"paths": [str(rules)]},
        "scoring": {"queue_size": 1},
        "sources": {
            "probe": {"enabled": True, "generator": {"kind": "openai_images", "url": "http://gen.test"}}
        },
        **sections,
    }
    return Config.model_validate(data)


def daemon_for(config: Config, clock: Callable[[], float] = lambda: NOW) -> Daemon:
    return Daemon(
        config,
        port=0,
        nvml=False,
        scorer_factory=FakeScorer,
        clock=clock,
        transport=httpx.MockTransport(lambda request: httpx.Response(503)),
        environ={},
    )


def test_construction_opens_nothing(tmp_path: Path) -> None:
    """Daemon(config) is the build step: no file opened or read, no thread started."""
    config = settings(
        tmp_path,
        server={"auth_token_file": str(tmp_path / "missing-token")},
        rules={"paths": [str(tmp_path / "missing-rules.yaml")]},
    )
    threads = threading.active_count()
    daemon = daemon_for(config)
    assert not (tmp_path / "data").exists()
    assert threading.active_count() == threads
    assert not daemon.started and not daemon.scheduler.running
    daemon.stop()  # before start: remembered, harmless


async def test_parts_start_in_order_and_unwind_in_reverse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Teardown runs in the reverse order of start-up: the probe job stops before the scoring
    thread drains, and the jobs (rules, notifications) keep running until it has drained."""
    daemon = daemon_for(settings(tmp_path))
    events: list[tuple[str, bool, bool]] = []

    def spy(cls: type, method: str, name: str) -> None:
        original = getattr(cls, method)

        def note() -> None:
            events.append((name, daemon.scheduler.running, "driftmon-probe" in daemon.scheduler.jobs()))

        if inspect.iscoroutinefunction(original):

            async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
                note()
                return await original(self, *args, **kwargs)

        else:

            def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
                note()
                return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, wrapper)

    for cls, method, name in (
        (Store, "close", "store"),
        (GpuCollector, "close", "gpu"),
        (RuleRuntime, "close", "rules"),
        (Notifier, "close", "notifier"),
        (Scheduler, "stop", "scheduler"),
        (ScoringSupervisor, "stop", "scoring"),
        (Prober, "shutdown", "probes"),
    ):
        spy(cls, method, name)
    async with AsyncExitStack() as stack:
        await daemon.start(stack)
        assert daemon.scheduler.running and events == []
        assert (tmp_path / "data" / "driftmon.db").exists()
    assert events == [
        ("probes", True, True),
        ("scoring", True, False),
        ("scheduler", True, False),
        ("notifier", False, False),
        ("rules", False, False),
        ("gpu", False, False),
        ("store", False, False),
    ]
    assert [name for name, _ in daemon.steps()] == [
        "store", "gpu", "rules", "notifier", "scoring", "http", "tap", "probes", "scheduler",
        "scoring thread", "probe job",
    ]  # fmt: skip


async def test_every_periodic_job_on_one_scheduler_at_its_cadence(tmp_path: Path) -> None:
    """Rules 1 s, GPU 15 s, retention 600 s, embedding drift and probes at their configured
    intervals, delivery every second: one scheduler; the grid read with a fake clock."""
    daemon = daemon_for(settings(tmp_path, sources={"probe": {
        "enabled": True, "interval": 45, "generator": {"kind": "openai_images", "url": "http://gen.test"}
    }}))  # fmt: skip
    later = datetime(2031, 1, 1, tzinfo=UTC)
    async with AsyncExitStack() as stack:
        await daemon.start(stack)
        jobs = daemon.scheduler.jobs()
        for job_id in jobs:
            first = daemon.scheduler.next_run_at(job_id, later)
            assert first is not None
            second = daemon.scheduler.next_run_at(job_id, first + timedelta(microseconds=1))
            assert second == first + timedelta(seconds=jobs[job_id])
    assert jobs == {
        "rules": 1.0,
        "gpu-signals": 15.0,
        "maintenance": 600.0,
        "embedding-drift": 30.0,
        "alert-delivery": 1.0,
        "driftmon-probe": 45.0,
    }


async def test_jobs_driven_by_hand_with_a_fake_clock(tmp_path: Path) -> None:
    """Without the scheduler: a probe sample enters through the intake, the rule tick sees the
    full queue and fires, retention removes what is older than store.retention."""
    clock = SimpleNamespace(now=NOW)
    daemon = daemon_for(settings(tmp_path), clock=lambda: clock.now)
    skipped = {"scheduler", "scoring thread", "probe job"}
    async with AsyncExitStack() as stack:
        for name, start in daemon.steps():
            if name not in skipped:
                await start(stack)
        await daemon.submit_probe(PNG, SampleMeta(model_version="v1"))
        assert daemon.journal.depth() == 1
        with capture_logs() as logs:
            await daemon.rule_tick()
            await daemon.record_gpu_signals()
        assert logs == []
        assert [a["labels"]["alertname"] for a in daemon.rules.alerts()] == ["QueueFull"]
        daemon.store.add(_scored("old", NOW - 8 * 86400))
        daemon.store.add(_scored("new", NOW - 60))
        await daemon.maintain()
        assert daemon.store.get("old") is None and daemon.store.get("new") is not None


def _scored(sample_id: str, received_at: float) -> ScoredSample:
    return ScoredSample(
        id=sample_id,
        source="push",
        received_at=received_at,
        scored_at=received_at,
        meta=SampleMeta(model_version="v1"),
        scores={"text_fidelity": 1.0},
        ocr_text="x",
        expected_text="x",
        evidence={},
        failing=False,
    )
