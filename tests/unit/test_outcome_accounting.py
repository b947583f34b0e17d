"""Honest accounting (issue 13, item 3; W3): within one process lifetime every sample offered ends
in exactly one outcome of driftmon_samples_total, and the outcomes sum to the samples received,
under injected faults: bad input (not an image, a meta integer past int64), samples outside the
sample ratio, a full journal, a store that cannot be written for a while (StoreError: the entries
stay journaled, retried, counted once when written), a row that can never be written (`lost`,
never `scored`), and a sample that crashes the scorer process each time (poison: `failed`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from driftmon.errors import Rejected, Shed, StoreError
from driftmon.metrics import OUTCOMES, Metrics
from driftmon.samples import SampleMeta, ScoredSample
from driftmon.sources.intake import Intake, Offer
from driftmon.store import Journal, Store
from driftmon.worker.child import ChildSettings, ScorerChild
from driftmon.worker.supervisor import Recorder, ScoringSupervisor
from tests.fakes.scorer import FakeScorer
from tests.imaging import png_bytes

PNG = png_bytes(np.full((32, 32, 3), 200, np.uint8))


class FlakyStore(Store):
    """A store whose first `full_for` writes fail as a full disk does (StoreError after its retries),
    and whose row of a sample expecting UNSTORABLE can never be written."""

    def __init__(self, path: Path, full_for: int) -> None:
        super().__init__(path, write_retries=0)
        self.full_for = full_for
        self.refused = 0

    def add_once(self, sample: ScoredSample) -> bool:
        if "UNSTORABLE" in (sample.meta.expected_text or ""):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        if self.refused < self.full_for:
            self.refused += 1
            raise StoreError("database or disk is full")
        return super().add_once(sample)


def wait_for(condition: Callable[[], bool], seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def outcomes(registry: CollectorRegistry) -> dict[str, float]:
    labels = {"source": "push", "model_version": "v1"}
    return {
        outcome: registry.get_sample_value("driftmon_samples_total", {**labels, "outcome": outcome}) or 0.0
        for outcome in OUTCOMES
    }


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def test_outcomes_sum_to_the_samples_received_under_faults(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    metrics = Metrics(registry)
    journal = Journal(tmp_path / "journal.db", max_entries=6, max_bytes=1 << 24, synchronous="NORMAL")
    store = FlakyStore(tmp_path / "db.sqlite", full_for=2)
    child = ScorerChild(FakeScorer, ChildSettings(warm_up=False))  # type: ignore[arg-type]
    recorder = Recorder(store, metrics, [], lambda name: None)
    supervisor = ScoringSupervisor(journal, child, recorder, metrics, batch_size=4, batch_timeout=60.0,
                                   backoff=(0.05, 0.2))
    intake = Intake(journal, metrics, on_journaled=supervisor.wake)
    received = 0
    answers: dict[str, int] = {}

    def offer(image: bytes = PNG, text: str = "OPEN", ratio: float = 1.0, **meta: object) -> None:
        nonlocal received
        received += 1
        sample_meta = SampleMeta(expected_text=text, model_version="v1", request_id=f"r{received}", **meta)
        try:
            asyncio.run(intake.offer(Offer("push", image, sample_meta, ratio)))
            answer = "accepted"
        except Rejected:
            answer = "rejected"
        except Shed:
            answer = "shed"
        answers[answer] = answers.get(answer, 0) + 1

    offer(b"not an image")
    offer(PNG[: len(PNG) // 2])  # a truncated PNG
    offer(seed=2**63)  # past SQLite's INTEGER
    offer(ratio=0.0)
    offer(ratio=0.0)
    for text in ("OPEN", "CRASH NOW", "UNSTORABLE", "OPEN", "OPEN", "OPEN"):
        offer(text=text)
    offer()  # the journal holds 6: shed
    offer()
    supervisor.start()
    try:
        wait_for(lambda: journal.depth() == 0)
        offer()  # room again, same lifetime
        offer()
        wait_for(lambda: journal.depth() == 0)
    finally:
        supervisor.stop(5.0)
        journal.close()
    counted = outcomes(registry)
    print(f"received {received}, answers {answers}, outcomes {counted}")
    assert sum(counted.values()) == received == 15
    assert counted == {"scored": 6, "unsampled": 2, "shed": 2, "rejected": 3, "failed": 1, "lost": 1}
    assert store.count() == counted["scored"] and store.refused == 2
    assert answers == {"rejected": 3, "accepted": 10, "shed": 2}
