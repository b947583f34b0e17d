"""Rules benchmark (not a test): evaluation cost at scale, and detection on synthetic streams.

    python bench/rules.py [--samples 1000000] [--rules 200] [--cycles 5] [--spans 1h,24h]
                          [--hydrate 200000] [--stable 100000] [--seeds 10] [--skip-scale]

(a) 200 rules (the 7 defaults + generated ones over every signal, aggregation, window and
    grouping, some with baselines and drift tests) over 1,000,000 readings, all inside the last
    hour (the worst case: every window is full). Prints the time per evaluation cycle and the
    ratio against a baseline measured in the same run: the same rules over a naive window view
    that masks the whole flat arrays for every aggregate (no per-series slicing, no sharing).
(c) Start-up: N samples stored in SQLite read back into the rules' window (Store.iter_readings).
(b) Detection: a model swap (fidelity mean 0.92 → 0.63, Beta-distributed per-sample noise,
    latency 85 ms → 320 ms log-normal), one sample every 5 s, rules evaluated every 30 s; and a
    stable stream of 100,000 samples. The default rules (rules/) against river's PageHinkley and
    ADWIN (default parameters) fed the same fidelity values. Target: the default rules fire within
    50 samples of the swap and never on the stable stream. The swap is repeated over --seeds seeds.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from driftmon.drift.statistics import drift_statistic
from driftmon.durations import format_duration, parse_duration
from driftmon.rules.baselines import Baselines
from driftmon.rules.engine import States, evaluate_group, rule_key
from driftmon.rules.evaluate import Vector, plan_order_stats
from driftmon.rules.model import Defaults, RuleSet, load_rules
from driftmon.rules.window import Array, LabelKey, Matchers, WindowStore, label_key, matches

REPO = Path(__file__).resolve().parents[1]
NOW = 1_800_000_000.0
SIGNALS = ("text_fidelity", "word_f1", "word_precision", "word_recall", "exact_match", "hallucination")
VERSIONS = ("v1", "v2", "v3", "v4")
SOURCES = ("push", "probe", "canary")


# ------------------------------------------------------------------------------------ (a) scale


def generated_rules(count: int, directory: Path) -> RuleSet:
    """The default rules plus generated ones, `count` in all, written to `directory`."""
    defaults = load_rules([REPO / "rules"])
    funcs = ["avg", "p50", "p90", "p95", "p99", "min", "max", "count", "share_below"]
    windows = ["5m", "10m", "30m", "1h"]
    bys = ["[model_version]", "[source]", "[model_version, source]", "[]"]
    signals = [*SIGNALS, "latency_seconds", "steps"]
    lines = ["groups:"]
    combos = itertools.product(bys, funcs, signals, windows)
    made = 0
    target = count - len(defaults.rules)
    for group in range(0, target, 20):
        lines += [f"  - name: bench-{group // 20}", "    interval: 30s", "    rules:"]
        for _ in range(min(20, target - made)):
            by, func, signal, window = next(combos)
            made += 1
            expr = _bench_expr(made, func, signal, window)
            by = "[model_version]" if "baseline" in expr else by
            lines += [
                f"      - alert: Bench{made}",
                f"        expr: '{expr}'",
                f"        by: {by}",
                "        min_samples: 5",
            ]
    path = directory / "bench.yaml"
    path.write_text("\n".join(lines) + "\n")
    ruleset = load_rules([REPO / "rules", path])
    assert len(ruleset.rules) == count, len(ruleset.rules)
    return ruleset


def _bench_expr(index: int, func: str, signal: str, window: str) -> str:
    if index % 25 == 0:
        method = ("ks", "psi", "wasserstein")[index // 25 % 3]
        return f'drift({signal}[{window}], baseline, method="{method}") > 0.3'
    if index % 10 == 0:
        return f"delta(avg({signal}[{window}]), baseline) < -0.1"
    if func == "share_below":
        return f"share_below({signal}[{window}], 0.85) > 0.5"
    return f"{func}({signal}[{window}]) < 0.5"


def fill(window: WindowStore, samples: int, span: float, rng: np.random.Generator) -> None:
    """`samples` readings with 8 signals each, spread evenly over `span` seconds before NOW."""
    ts = NOW - span + np.arange(samples) * (span / samples)
    values = rng.random((samples, len(SIGNALS)))
    latency = rng.lognormal(np.log(0.1), 0.3, samples)
    labels = [
        {"model_version": v, "source": s, "probe": f"p{i % 2}"}
        for i, (v, s) in enumerate(itertools.product(VERSIONS, SOURCES))
    ]
    which = rng.integers(0, len(labels), samples)
    for i in range(samples):
        row = dict(zip(SIGNALS, values[i].tolist(), strict=True))
        row["latency_seconds"] = float(latency[i])
        row["steps"] = 30.0
        window.record(float(ts[i]), labels[which[i]], row)


class NaiveView:
    """The baseline: flat arrays per signal, a full boolean mask per aggregate, nothing shared."""

    def __init__(self, window: WindowStore) -> None:
        self.flat: dict[str, tuple[Array, Array, list[dict[str, str]], np.ndarray]] = {}
        for signal in window.signals():
            series = list(window._series[signal].values())
            ts = np.concatenate([s.ts for s in series])
            vals = np.concatenate([s.values for s in series])
            ids = np.concatenate([np.full(len(s.ts), i) for i, s in enumerate(series)])
            self.flat[signal] = (ts, vals, [s.labels for s in series], ids)

    def select(
        self, signal: str, matchers: Matchers, by: tuple[str, ...], start: float, end: float
    ) -> dict[LabelKey, Array]:
        """Like WindowStore.select, by masking the whole arrays."""
        if signal not in self.flat:
            return {}
        ts, vals, labels, ids = self.flat[signal]
        mask = (ts > start) & (ts <= end)
        keep = np.array([matches(lab, matchers) for lab in labels])
        mask &= keep[ids]
        keys = [label_key(lab, by) for lab in labels]
        out: dict[LabelKey, list[Array]] = {}
        sel_ids, sel_vals = ids[mask], vals[mask]
        for i in np.unique(sel_ids):
            out.setdefault(keys[i], []).append(sel_vals[sel_ids == i])
        return {k: np.concatenate(v) for k, v in out.items()}


def cycle(
    ruleset: RuleSet,
    view: object,
    baselines: Baselines,
    now: float,
    states: dict[str, States],
    shared: bool = True,
) -> float:
    """Evaluate every group once at `now` (sharing aggregates across groups if `shared`); seconds."""
    plan = plan_order_stats(rule.expr for rule in ruleset.rules) if shared else {}
    cache: dict[tuple[object, ...], Vector] | None = {} if shared else None
    started = time.perf_counter()
    for group in ruleset.groups:
        outcome = evaluate_group(group, states, view, now, baselines, cache, plan)  # type: ignore[arg-type]
        for rule, result in outcome.rules:
            states[rule_key(rule)] = result.states
            assert result.health != "err", (rule.name, result.error)
    return time.perf_counter() - started


def bench_scale(samples: int, rules: int, cycles: int, tmp: Path, span: float) -> None:
    """Part (a): evaluation time per cycle against the naive baseline, readings over `span` s."""
    rng = np.random.default_rng(1)
    ruleset = generated_rules(rules, tmp)
    window = WindowStore(retention=86400.0)
    started = time.perf_counter()
    fill(window, samples, span, rng)
    window.compact(NOW)
    load = time.perf_counter() - started
    # the versions served one after another, so automatic baselines exist
    baselines = Baselines(window, min_samples=100, window=3600.0)
    baselines.refresh()
    print(
        f"(a) {samples:,} readings over the last {format_duration(span)} ({window.points():,} points),"
        f" loaded in {load:.1f} s; {rules} rules (windows 5m to 1h)"
    )
    timings: list[float] = []
    states: dict[str, States] = {}
    for index in range(cycles):
        now = NOW + 30.0 * index
        if index:
            fill_more(window, now, rng)
        started = time.perf_counter()
        window.compact(now)
        baselines.refresh()
        timings.append(time.perf_counter() - started + cycle(ruleset, window, baselines, now, states))
    naive_states: dict[str, States] = {}
    naive = NaiveView(window)
    naive_time = cycle(ruleset, naive, baselines, NOW + 30.0 * (cycles - 1), naive_states, shared=False)
    median = statistics.median(timings)
    print(f"    driftmon: per cycle median {median:.3f} s, max {max(timings):.3f} s over {cycles} cycles "
          f"(target ≤ 1 s: {'met' if max(timings) <= 1.0 else 'MISSED'})")  # fmt: skip
    print(f"    naive baseline (full-array masks, no sharing between rules): {naive_time:.3f} s per cycle")
    print(f"    ratio baseline/driftmon: {naive_time / median:.1f}×")


def fill_more(window: WindowStore, now: float, rng: np.random.Generator) -> None:
    """30 s of new traffic (1,000 readings) so that each cycle compacts and misses its caches."""
    for i in range(1000):
        row = {s: float(rng.random()) for s in SIGNALS}
        row["latency_seconds"] = 0.1
        window.record(now - 30.0 + i * 0.03, {"model_version": "v4", "source": "push", "probe": "p0"}, row)


# --------------------------------------------------------------------------------- (b) detection


@dataclass
class Stream:
    """A synthetic stream: per-sample fidelity, hallucination, latency and model version."""

    name: str
    fidelity: np.ndarray
    hallucination: np.ndarray
    latency: np.ndarray
    versions: list[str]
    swap_at: int | None  # index of the first sample after the swap


def _beta(rng: np.random.Generator, mean: float, concentration: float, size: int) -> np.ndarray:
    return rng.beta(mean * concentration, (1 - mean) * concentration, size)


def swap_stream(rng: np.random.Generator, before: int = 3000, after: int = 2000) -> Stream:
    """v1: fidelity Beta(mean 0.92, sd ≈ 0.075), latency ~85 ms; then v2: mean 0.63 (sd ≈ 0.18), ~320 ms."""
    fidelity = np.concatenate([_beta(rng, 0.92, 12, before), _beta(rng, 0.63, 6, after)])
    hallucination = np.concatenate([_beta(rng, 0.03, 30, before), _beta(rng, 0.12, 10, after)])
    latency = np.concatenate(
        [rng.lognormal(np.log(0.085), 0.25, before), rng.lognormal(np.log(0.32), 0.25, after)]
    )
    return Stream("model swap", fidelity, hallucination, latency, ["v1"] * before + ["v2"] * after, before)


def stable_stream(rng: np.random.Generator, size: int) -> Stream:
    """v1 only: the same distributions as before the swap, `size` samples."""
    return Stream(
        f"stable ({size:,} samples)",
        _beta(rng, 0.92, 12, size),
        _beta(rng, 0.03, 30, size),
        rng.lognormal(np.log(0.085), 0.25, size),
        ["v1"] * size,
        None,
    )


def rule_detections(stream: Stream, ruleset: RuleSet, every: float = 5.0) -> Iterator[tuple[int, str]]:
    """(sample index, alert name) each time a default rule starts firing on the stream."""
    window = WindowStore(retention=7200.0)
    baselines = Baselines(window, min_samples=100, window=3600.0)
    states: dict[str, States] = {}
    firing: set[str] = set()
    per_eval = int(30.0 / every)
    for index in range(len(stream.fidelity)):
        ts = index * every
        labels = {"model_version": stream.versions[index], "source": "push"}
        values = {
            "text_fidelity": float(stream.fidelity[index]),
            "hallucination": float(stream.hallucination[index]),
            "latency_seconds": float(stream.latency[index]),
        }
        window.record(ts, labels, values)
        if index % per_eval != per_eval - 1:
            continue
        window.compact(ts)
        baselines.refresh()
        for group in ruleset.groups:
            outcome = evaluate_group(group, states, window, ts, baselines)
            for rule, result in outcome.rules:
                states[rule_key(rule)] = result.states
                for fp, inst in result.states.items():
                    if inst.state == "firing" and fp not in firing:
                        firing.add(fp)
                        yield index, rule.name
                    elif inst.state != "firing":
                        firing.discard(fp)


def river_detections(stream: Stream, detector: object) -> list[int]:
    """Sample indices at which a river drift detector signals drift on the fidelity values."""
    found = []
    for index, value in enumerate(stream.fidelity):
        detector.update(float(value))  # type: ignore[attr-defined]
        if detector.drift_detected:  # type: ignore[attr-defined]
            found.append(index)
    return found


def describe(stream: Stream, detections: list[int]) -> str:
    """Delay after the swap (first detection at or after it) and false alarms."""
    if stream.swap_at is None:
        return f"{len(detections)} false alarm(s)"
    false = [d for d in detections if d < stream.swap_at]
    after = [d for d in detections if d >= stream.swap_at]
    delay = f"fires {after[0] - stream.swap_at + 1} samples after the swap" if after else "never fires"
    return f"{delay}; {len(false)} false alarm(s) before it"


def bench_detection(stable_size: int, seeds: int = 10) -> None:
    """Part (b): the default rules against PageHinkley and ADWIN on the same streams."""
    from river import drift

    rng = np.random.default_rng(2)
    ruleset = load_rules([REPO / "rules"], Defaults())
    print("(b) detection (1 sample / 5 s, rules every 30 s)")
    results = {}
    for stream in (swap_stream(rng), stable_stream(rng, stable_size)):
        started = time.perf_counter()
        fired = list(rule_detections(stream, ruleset))
        rules_time = time.perf_counter() - started
        first: dict[str, int] = {}
        for index, name in fired:
            first.setdefault(name, index - (stream.swap_at or 0) + 1)
        order = ", ".join(f"{name} at +{delay}" for name, delay in sorted(first.items(), key=lambda x: x[1]))
        print(f"    {stream.name}: driftmon default rules {describe(stream, [i for i, _ in fired])}"
              f"{' (' + order + ')' if order else ''} [{rules_time:.1f} s]")  # fmt: skip
        for label, detector in (("PageHinkley", drift.PageHinkley()), ("ADWIN", drift.ADWIN())):
            found = river_detections(stream, detector)
            print(f"    {stream.name}: river {label}: {describe(stream, found)}")
            results[(stream.name, label)] = found
        results[(stream.name, "rules")] = [i for i, _ in fired]
    swap = next(k for k in results if k[0] == "model swap")[0]
    rules_first = [i for i in results[(swap, "rules")] if i >= 3000]
    for label in ("PageHinkley", "ADWIN"):
        other = [i for i in results[(swap, label)] if i >= 3000]
        if rules_first and other:
            ratio = (other[0] - 3000 + 1) / (rules_first[0] - 3000 + 1)
            print(f"    detection delay ratio {label}/driftmon: {ratio:.2f}×")
    _seeds(ruleset, drift, seeds)


def _seeds(ruleset: RuleSet, drift: Any, seeds: int) -> None:
    """Detection delays over several seeds of the swap stream (samples after the swap)."""
    delays: dict[str, list[int | None]] = {"driftmon": [], "PageHinkley": [], "ADWIN": []}
    false_alarms = dict.fromkeys(delays, 0)
    for seed in range(seeds):
        stream = swap_stream(np.random.default_rng(100 + seed))
        found = {
            "driftmon": [i for i, _ in rule_detections(stream, ruleset)],
            "PageHinkley": river_detections(stream, drift.PageHinkley()),
            "ADWIN": river_detections(stream, drift.ADWIN()),
        }
        for name, indices in found.items():
            after = [i for i in indices if i >= 3000]
            delays[name].append(after[0] - 3000 + 1 if after else None)
            false_alarms[name] += sum(i < 3000 for i in indices)
    print(f"    over {seeds} seeds of the swap stream (delay in samples: min / median / max; false alarms):")
    for name, values in delays.items():
        hit = sorted(v for v in values if v is not None)
        missed = len(values) - len(hit)
        spread = f"{hit[0]} / {statistics.median(hit):g} / {hit[-1]}" if hit else "-"
        print(f"      {name:12} {spread}{f', missed {missed}' if missed else ''}; {false_alarms[name]} false")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def bench_hydrate(count: int, tmp: Path) -> None:
    """Part (c): start-up cost of reading `count` stored samples back into the rules' window."""
    from driftmon.samples import SampleMeta, ScoredSample
    from driftmon.store import Store

    store = Store(tmp / "bench.db")
    rng = np.random.default_rng(5)
    scores = {name: 0.0 for name in SIGNALS}
    store._conn.execute("BEGIN")  # one transaction: the insert rate is not what is measured
    for index in range(count):
        meta = SampleMeta(model_version=VERSIONS[index % 4], latency_seconds=0.1, steps=30)
        values = {**scores, "text_fidelity": float(rng.random())}
        ts = NOW - 3600 + index * 3600 / count
        store.add(ScoredSample(f"s{index}", "push", ts, NOW, meta, values, "", "", {}, False))
    store._conn.execute("COMMIT")
    window = WindowStore(retention=86400.0)
    started = time.perf_counter()
    read = 0
    for reading in store.iter_readings(NOW - 86400.0):
        window.record(reading.ts, reading.labels, reading.values)
        read += 1
    window.compact(NOW)
    took = time.perf_counter() - started
    print(f"(c) start-up: {read:,} stored samples read from SQLite into the window in {took:.1f} s"
          f" ({read / took:,.0f}/s)")  # fmt: skip
    store.close()


def main() -> None:
    """Run both parts and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--stable", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=10, help="seeds of the swap stream")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--spans", default="1h,24h", help="spans the readings are spread over")
    parser.add_argument("--hydrate", type=int, default=200_000, help="stored samples read at start-up")
    args = parser.parse_args()
    cpu = _cpu_name()
    versions = f"Python {platform.python_version()}, numpy {np.__version__}"
    print(f"machine: {cpu}, {os.cpu_count()} CPUs, {versions}")
    # scipy.stats is imported on first use (~1.5 s): a start-up cost, not a cycle cost
    drift_statistic("ks", np.ones(3), np.ones(3))
    if not args.skip_scale:
        for span in args.spans.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                bench_scale(args.samples, args.rules, args.cycles, Path(tmp), parse_duration(span))
    if args.hydrate:
        with tempfile.TemporaryDirectory() as tmp:
            bench_hydrate(args.hydrate, Path(tmp))
    bench_detection(args.stable, args.seeds)


if __name__ == "__main__":
    main()
