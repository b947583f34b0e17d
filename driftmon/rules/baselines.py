"""Baselines: what ``ratio(..., baseline)``, ``delta(..., baseline)`` and ``drift(...)`` compare to.

* Pinned: ``driftmon baseline pin --model-version X --window 24h`` copies X's readings of the last
  24 h into the table ``rule_baselines`` of the store's database (so retention never removes
  them). While a pin exists every model version is compared with it.
* Automatic (no pin): the *previous* model version — among the versions first seen before this
  one, the one seen last — provided it served at least ``rules.baseline_min_samples`` readings.
  Its samples of the ``rules.baseline_window`` before it was last seen are the reference. This is
  the model-swap case: v2 is compared with what v1 did just before the swap.
  Like with like: only samples scored by the running scorer (``scorer_version``: driftmon's
  version and its OCR readers) count as the previous version's, so a version scored before an
  upgrade is no baseline for one scored after it (the runtime leaves the others out of the
  version spans when it reads the store: `note_version`).

Embedding drift (:mod:`driftmon.drift.monitor`) picks its reference version by the same rule.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from driftmon.errors import RuleError
from driftmon.rules.evaluate import Reference
from driftmon.rules.window import VersionInfo, WindowStore
from driftmon.store import BaselineTable, PinnedReading, Reading, Store, VersionSpan, version_spans


@dataclass(frozen=True, slots=True)
class Pin:
    """A pinned baseline: model version, span of its readings, and those readings in memory."""

    model_version: str
    since: float
    until: float
    pinned_at: float
    readings: int
    view: WindowStore

    def summary(self) -> dict[str, object]:
        """JSON-able description."""
        return {
            "model_version": self.model_version,
            "since": self.since,
            "until": self.until,
            "pinned_at": self.pinned_at,
            "readings": self.readings,
        }


class PinStore:
    """The pinned baseline (one at a time), kept in the store's `rule_baselines` table."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._table = BaselineTable(conn)

    def pin(
        self, readings: Iterable[Reading], model_version: str, since: float, until: float, now: float
    ) -> int:
        """Pin `model_version` with its readings in [since, until); returns how many were kept."""
        rows: list[PinnedReading] = [
            (r.ts, dict(r.labels), {k: v for k, v in r.values.items() if v is not None})
            for r in readings
            if r.labels.get("model_version") == model_version
        ]
        if not rows:
            raise RuleError(f"no stored samples of model version {model_version!r} in the chosen window")
        self._table.save(model_version, since, until, now, rows)
        return len(rows)

    def unpin(self) -> bool:
        """Remove the pin; returns whether there was one."""
        return self._table.delete()

    def stamp(self) -> float | None:
        """When the current pin was made, or None: changes whenever the pin does."""
        return self._table.pinned_at()

    def load(self) -> Pin | None:
        """The pin with its readings in an in-memory window store, or None."""
        stored = self._table.load()
        if stored is None:
            return None
        view = WindowStore(retention=float("inf"))
        for ts, labels, values in stored.readings:
            view.record(ts, labels, values)
        view.compact(stored.until)
        return Pin(stored.model_version, stored.since, stored.until, stored.pinned_at, stored.count, view)


def pin_from_store(store: Store, model_version: str, window: float, now: float) -> int:
    """Pin `model_version` using its stored samples of the last `window` seconds."""
    conn = store.connect()
    try:
        return PinStore(conn).pin(
            store.iter_readings(now - window, now + 1e-6), model_version, now - window, now, now
        )
    finally:
        conn.close()


def previous_version(versions: dict[str, VersionInfo], current: str, min_samples: int) -> str | None:
    """The version seen last among those first seen before `current` with ≥ `min_samples`."""
    info = versions.get(current)
    if info is None:
        return None
    candidates = [
        (other.last_seen, name)
        for name, other in versions.items()
        if name != current and other.first_seen < info.first_seen and other.count >= min_samples
    ]
    return max(candidates)[1] if candidates else None


class Baselines:
    """A `BaselineSource` over the live window store and an optional pin."""

    def __init__(self, live: WindowStore, min_samples: int, window: float, pin: Pin | None = None) -> None:
        self.live = live
        self.min_samples = min_samples
        self.window = window
        self.pin = pin
        self._versions: dict[str, VersionInfo] | None = None

    def pinned_version(self) -> str | None:
        """The pinned model version, or None (embedding drift follows the pin too)."""
        return None if self.pin is None else self.pin.model_version

    def refresh(self) -> None:
        """Re-read the model versions seen (call once per evaluation cycle)."""
        self._versions = self.live.versions()

    def reference(self, model_version: str, now: float) -> Reference | None:
        """The pinned baseline, else the previous version's last `window` of samples."""
        if self.pin is not None:
            return Reference(self.pin.view, self.pin.model_version, self.pin.since, self.pin.until, "pinned")
        versions = self._versions if self._versions is not None else self.live.versions()
        previous = previous_version(versions, model_version, self.min_samples)
        if previous is None:
            return None
        info = versions[previous]
        end = info.last_seen
        # no earlier than its first comparable sample: those before were scored by another scorer
        start = max(end - self.window, math.nextafter(info.first_seen, -math.inf))
        return Reference(self.live, previous, start, end, "previous")


def _infos(spans: Iterable[VersionSpan]) -> dict[str, VersionInfo]:
    return {s.model_version: VersionInfo(s.first_seen, s.last_seen, s.samples) for s in spans}


def version_summary(
    conn: sqlite3.Connection, min_samples: int, scorer_version: str | None = None
) -> list[dict[str, object]]:
    """Model versions in the samples table, oldest first, with their automatic baseline; with
    `scorer_version`, the baseline is chosen among samples that scorer scored only."""
    versions = _infos(version_spans(conn))
    comparable = versions if scorer_version is None else _infos(version_spans(conn, scorer_version))
    return [
        {
            "model_version": name,
            "samples": info.count,
            "first_seen": info.first_seen,
            "last_seen": info.last_seen,
            "baseline": previous_version(comparable, name, min_samples),
        }
        for name, info in versions.items()
    ]
