"""Intake over a real intake journal, for tests of the HTTP side (nothing here scores).

intake = journal_intake(tmp_path, registry, max_entries=2)
app = AppState(intake, store, registry)
samples = taken_in(intake.journal)      what 202 put on disk, oldest first
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from driftmon.metrics import Metrics
from driftmon.samples import Sample
from driftmon.sources.intake import Intake
from driftmon.store import Journal


def journal_intake(
    directory: Path,
    registry: CollectorRegistry,
    *,
    max_entries: int = 100,
    max_bytes: int = 1 << 30,
    max_pixels: int = 1_000_000,
    **options: Any,
) -> Intake:
    """An `Intake` appending to `<directory>/journal.db` (synchronous=NORMAL: tests of intake,
    not of durability); `options` go to `Intake` (readings, clock, random, on_journaled)."""
    journal = Journal(directory / "journal.db", max_entries, max_bytes, synchronous="NORMAL")
    return Intake(journal, Metrics(registry), max_pixels=max_pixels, **options)


def taken_in(journal: Journal, limit: int = 1000) -> list[Sample]:
    """The samples in the journal, oldest first (claimed, so each is returned once)."""
    return [entry.sample for entry in journal.claim(limit, lease_seconds=3600)]


def no_scorer_state() -> Callable[[], dict[str, Any]]:
    """/readyz's scorer state of a daemon whose scorer is still loading its models."""
    return lambda: {"state": "starting", "up": False, "restarts": 0, "last_error": None, "pid": None}
