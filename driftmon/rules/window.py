"""The in-memory windowed store the rules read: one sorted numpy array pair per (signal, labels).

`record()` only appends to Python lists (cheap, thread-safe under a lock); `compact(now)` merges
them into sorted arrays and drops points older than the retention. `select()` then slices each
series with `searchsorted` and concatenates the slices of one group, so a cycle costs
O(series × log n) plus the copy of the windows it reads. Results of `select()` are cached until
the next `compact()`, so rules sharing a window share its cost.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

LabelKey = tuple[tuple[str, str], ...]
Matchers = tuple[tuple[str, str, str], ...]
Array = NDArray[np.float64]


def label_key(labels: Mapping[str, str], names: tuple[str, ...] | None = None) -> LabelKey:
    """Labels as a sorted tuple; with `names`, only those (a missing label counts as "")."""
    if names is None:
        return tuple(sorted(labels.items()))
    return tuple(sorted((name, labels.get(name, "")) for name in set(names)))


def matches(labels: Mapping[str, str], matchers: Matchers) -> bool:
    """Whether `labels` satisfy every ``(label, op, value)`` matcher (a missing label is "")."""
    for name, op, value in matchers:
        equal = labels.get(name, "") == value
        if equal != (op == "="):
            return False
    return True


class _Series:
    """One label set's points: sorted by time in a growable buffer, live part [start, end)."""

    __slots__ = ("_end", "_start", "_ts", "_values", "labels", "pending_ts", "pending_values")

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = dict(labels)
        self._ts: Array = np.empty(0)
        self._values: Array = np.empty(0)
        self._start = self._end = 0
        self.pending_ts: list[float] = []
        self.pending_values: list[float] = []

    @property
    def ts(self) -> Array:
        """Live timestamps, sorted."""
        return self._ts[self._start : self._end]

    @property
    def values(self) -> Array:
        """Live values, in time order."""
        return self._values[self._start : self._end]

    def compact(self, cutoff: float) -> None:
        """Append the pending points (amortised O(new points)), sort if needed, drop the old."""
        if self.pending_ts:
            self._append(np.asarray(self.pending_ts, dtype=np.float64), np.asarray(self.pending_values))
            self.pending_ts, self.pending_values = [], []
        self._start += int(np.searchsorted(self.ts, cutoff, "left"))

    def _append(self, ts: Array, values: Array) -> None:
        live, added = self._end - self._start, len(ts)
        if self._end + added > len(self._ts):
            capacity = max(64, 2 * (live + added))
            new_ts, new_values = np.empty(capacity), np.empty(capacity)
            new_ts[:live], new_values[:live] = self.ts, self.values
            self._ts, self._values, self._start, self._end = new_ts, new_values, 0, live
        first = self._end
        self._ts[first : first + added], self._values[first : first + added] = ts, values
        self._end += added
        if np.any(np.diff(self._ts[max(first - 1, self._start) : self._end]) < 0):
            order = np.argsort(self.ts, kind="stable")
            live_ts, live_values = self.ts[order], self.values[order]
            self._ts[self._start : self._end], self._values[self._start : self._end] = live_ts, live_values

    def window(self, start: float, end: float) -> Array:
        """Values with ``start < ts <= end``."""
        ts = self.ts
        lo = int(np.searchsorted(ts, start, "right"))
        hi = int(np.searchsorted(ts, end, "right"))
        return self.values[lo:hi]


@dataclass
class VersionInfo:
    """When a model version served and how many readings carried it."""

    first_seen: float
    last_seen: float
    count: int = 0


class WindowStore:
    """Points by signal and label set, kept for `retention` seconds before the newest compaction."""

    def __init__(self, retention: float) -> None:
        self.retention = retention
        self._series: dict[str, dict[LabelKey, _Series]] = {}
        self._versions: dict[str, VersionInfo] = {}
        self._lock = threading.Lock()
        self._cache: dict[tuple[object, ...], dict[LabelKey, Array]] = {}

    def record(
        self,
        ts: float,
        labels: Mapping[str, str],
        values: Mapping[str, float | None],
        *,
        note_version: bool = True,
    ) -> None:
        """Append one reading's values (None and NaN are skipped) under `labels`; unless
        `note_version` is False its model version's first/last time and count include it (a
        sample scored by another scorer is kept for rules but is no baseline: rules/baselines.py)."""
        key = label_key(labels)
        with self._lock:
            for signal, value in values.items():
                if value is None or math.isnan(value):
                    continue
                by_key = self._series.setdefault(signal, {})
                series = by_key.get(key)
                if series is None:
                    series = by_key[key] = _Series(labels)
                series.pending_ts.append(ts)
                series.pending_values.append(float(value))
            version = labels.get("model_version")
            if version is not None and note_version:
                self._note_version(version, ts)

    def _note_version(self, version: str, ts: float) -> None:
        info = self._versions.get(version)
        if info is None:
            self._versions[version] = VersionInfo(ts, ts, 1)
            return
        info.first_seen = min(info.first_seen, ts)
        info.last_seen = max(info.last_seen, ts)
        info.count += 1

    def compact(self, now: float) -> None:
        """Merge appended points and drop those older than ``now - retention``."""
        cutoff = now - self.retention
        with self._lock:
            for by_key in self._series.values():
                for series in by_key.values():
                    series.compact(cutoff)
            self._cache = {}

    def versions(self) -> dict[str, VersionInfo]:
        """Every model version seen, with first/last time and reading count (a copy)."""
        with self._lock:
            return {
                name: VersionInfo(i.first_seen, i.last_seen, i.count) for name, i in self._versions.items()
            }

    def points(self) -> int:
        """How many compacted points are held."""
        return sum(len(s.ts) for by_key in list(self._series.values()) for s in list(by_key.values()))

    def signals(self) -> set[str]:
        """Names of every signal recorded so far."""
        return set(self._series)

    def select(
        self, signal: str, matchers: Matchers, by: tuple[str, ...], start: float, end: float
    ) -> dict[LabelKey, Array]:
        """Values of `signal` with ``start < ts <= end`` matching `matchers`, grouped by `by`.

        Groups with no point in the window are absent. Call `compact()` first.
        """
        cache_key = (signal, matchers, by, start, end)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        parts: dict[LabelKey, list[Array]] = {}
        for series in list(self._series.get(signal, {}).values()):
            if not matches(series.labels, matchers):
                continue
            values = series.window(start, end)
            if len(values):
                parts.setdefault(label_key(series.labels, by), []).append(values)
        grouped = {
            key: chunks[0] if len(chunks) == 1 else np.concatenate(chunks) for key, chunks in parts.items()
        }
        self._cache[cache_key] = grouped
        return grouped
