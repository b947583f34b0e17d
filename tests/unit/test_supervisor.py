"""The scoring supervisor with a real scorer process (the light fake scorer): journal entries are
scored once, a poison sample ends failed after 3 attempts and the others are scored, a load
failure is retried with backoff, a shutdown leaves what is not scored in the journal."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from driftmon.metrics import Metrics
from driftmon.pipeline import Scored
from driftmon.samples import Sample, SampleMeta, ScoredSample
from driftmon.store import Journal, Store
from driftmon.worker.child import ChildSettings, Outcome, ScorerChild
from driftmon.worker.supervisor import Recorder, ScoringSupervisor
from tests.fakes.scorer import BrokenScorer, FakeScorer
from tests.imaging import png_bytes

PNG = png_bytes(np.full((32, 32, 3), 200, np.uint8))


def wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


class Heard:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def on_scored(self, scored: Scored) -> None:
        self.ids.append(scored.sample.id)


def sample(sample_id: str, text: str = "OPEN") -> Sample:
    return Sample(sample_id, "push", 1000.0, SampleMeta(expected_text=text, model_version="v1"), None, PNG)


def samples_total(registry: CollectorRegistry, outcome: str) -> float:
    value = registry.get_sample_value(
        "driftmon_samples_total", {"source": "push", "model_version": "v1", "outcome": outcome}
    )
    return value or 0.0


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Journal, Store, CollectorRegistry, Heard]]:
    journal = Journal(tmp_path / "journal.db", 100, 1 << 24)
    store = Store(tmp_path / "db.sqlite")
    yield journal, store, CollectorRegistry(), Heard()
    journal.close()
    store.close()


def supervisor_for(
    journal: Journal, store: Store, registry: CollectorRegistry, heard: Heard, factory: object = FakeScorer,
    batch_timeout: float = 60.0,
) -> ScoringSupervisor:
    metrics = Metrics(registry)
    child = ScorerChild(factory, ChildSettings(warm_up=False))  # type: ignore[arg-type]
    recorder = Recorder(store, metrics, [heard], lambda name: None)
    return ScoringSupervisor(
        journal, child, recorder, metrics, batch_size=4, batch_timeout=batch_timeout, backoff=(0.05, 0.2)
    )


Parts = tuple[Journal, Store, CollectorRegistry, Heard]


def test_every_entry_scored_once_and_completed(parts: Parts) -> None:
    journal, store, registry, heard = parts
    for index in range(6):
        journal.append(sample(f"s{index}"))
    supervisor = supervisor_for(journal, store, registry, heard)
    supervisor.start()
    try:
        wait_for(lambda: journal.depth() == 0)
    finally:
        assert supervisor.stop(5.0) == 0
    assert sorted(heard.ids) == [f"s{index}" for index in range(6)]
    assert store.count() == 6
    assert samples_total(registry, "scored") == 6
    assert registry.get_sample_value("driftmon_scorer_restarts_total") == 0


def test_poison_sample_fails_after_three_attempts_and_the_others_are_scored(
    parts: tuple[Journal, Store, CollectorRegistry, Heard],
) -> None:
    journal, store, registry, heard = parts
    for index in range(3):
        journal.append(sample(f"ok{index}"))
    journal.append(sample("poison", "CRASH NOW"))
    for index in range(3, 6):
        journal.append(sample(f"ok{index}"))
    supervisor = supervisor_for(journal, store, registry, heard)
    supervisor.start()
    try:
        wait_for(lambda: journal.depth() == 0)
        wait_for(lambda: registry.get_sample_value("driftmon_scorer_up") == 1.0)
    finally:
        supervisor.stop(5.0)
    assert sorted(heard.ids) == sorted(f"ok{index}" for index in range(6))
    assert store.get("poison") is None
    assert samples_total(registry, "failed") == 1
    assert samples_total(registry, "scored") == 6
    assert registry.get_sample_value("driftmon_scorer_restarts_total") == 3
    assert supervisor.status.last_error is not None and "crashed" in supervisor.status.last_error


def test_a_batch_that_hangs_is_killed_at_the_timeout_and_ends_failed(
    parts: tuple[Journal, Store, CollectorRegistry, Heard],
) -> None:
    journal, store, registry, heard = parts
    journal.append(sample("hang", "HANG"))
    journal.append(sample("fine"))
    supervisor = supervisor_for(journal, store, registry, heard, batch_timeout=1.0)
    supervisor.start()
    try:
        wait_for(lambda: journal.depth() == 0)
    finally:
        supervisor.stop(5.0)
    assert heard.ids == ["fine"]
    assert samples_total(registry, "failed") == 1
    assert "timed out" in (supervisor.status.last_error or "")


def test_models_that_cannot_load_are_retried_and_nothing_is_lost(
    parts: tuple[Journal, Store, CollectorRegistry, Heard],
) -> None:
    journal, store, registry, heard = parts
    journal.append(sample("waits"))
    supervisor = supervisor_for(journal, store, registry, heard, factory=BrokenScorer)
    supervisor.start()
    try:
        wait_for(lambda: (registry.get_sample_value("driftmon_scorer_restarts_total") or 0) >= 2)
        assert supervisor.status.state == "restarting"
        assert "no models here" in (supervisor.status.last_error or "")
    finally:
        assert supervisor.stop(5.0) == 1
    assert registry.get_sample_value("driftmon_scorer_up") == 0


def test_an_entry_already_stored_is_completed_without_scoring(
    parts: tuple[Journal, Store, CollectorRegistry, Heard],
) -> None:
    """A process died between the store's commit and the journal's: the row counts, once."""
    journal, store, registry, heard = parts
    journal.append(sample("done"))
    supervisor = supervisor_for(journal, store, registry, heard)
    supervisor.start()
    wait_for(lambda: journal.depth() == 0)
    supervisor.stop(5.0)
    journal.append(sample("done"))  # as if its completion had been lost
    heard.ids.clear()
    again = supervisor_for(journal, store, registry := CollectorRegistry(), heard)
    again.start()
    try:
        wait_for(lambda: journal.depth() == 0)
    finally:
        again.stop(5.0)
    assert heard.ids == [] and store.count() == 1
    assert samples_total(registry, "scored") == 0


def test_a_scored_outcome_hands_every_result_to_the_stored_sample() -> None:
    meta = SampleMeta(prompt='a sign that says "OPEN"', model_version="v2")
    outcome = Outcome(
        7, "scored", scores={"text_fidelity": 0.5}, ocr_text="OPFN", expected_text="OPEN",
        evidence={"reader": "easyocr"}, failing=True, image_path="s1.png", overlay_path="s1.overlay.png",
    )  # fmt: skip
    scored = outcome.scored_sample(Sample("s1", "push", 10.0, meta, None), scored_at=12.0)
    assert scored == ScoredSample(
        "s1", "push", 10.0, 12.0, meta, {"text_fidelity": 0.5}, "OPFN", "OPEN", {"reader": "easyocr"}, True,
        "s1.png", "s1.overlay.png",
    )  # fmt: skip
