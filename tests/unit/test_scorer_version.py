"""Baselines like with like: each stored sample records the scorer that scored it (migration 2,
from the schema before it), and the previous-version baseline counts only samples of the running
scorer, so a version scored before an upgrade is no baseline for one scored after it."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

from driftmon.config import Config, RulesConfig, ScoringConfig, StoreConfig
from driftmon.rules.baselines import Baselines, version_summary
from driftmon.rules.runtime import RuleRuntime
from driftmon.rules.window import WindowStore
from driftmon.samples import SampleMeta, ScoredSample
from driftmon.scoring.factory import configured_version, scorer_version
from driftmon.store import Store, migrate, schema_version
from driftmon.store.migrations import EARLIER_SCORER

T0 = 1_700_000_000.0
NOW_SCORER = configured_version(ScoringConfig())
RULES = """
groups:
  - name: g
    rules:
      - alert: FidelityDropped
        expr: ratio(avg(fidelity[10m]), baseline) < 0.9
        by: [model_version]
"""


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def sample(sample_id: str, ts: float, version: str, scorer: str | None) -> ScoredSample:
    """A stored sample of `version`, scored by `scorer` (as the Scorer stamps its evidence)."""
    evidence = {} if scorer is None else {"scorer_version": scorer}
    meta = SampleMeta(model_version=version)
    return ScoredSample(sample_id, "push", ts, ts, meta, {"text_fidelity": 0.9}, "", "", evidence, False)


def fill(store: Store, version: str, scorer: str | None, start: float, count: int) -> None:
    for index in range(count):
        store.add(sample(f"{version}-{scorer}-{index}", start + 10.0 * index, version, scorer))


def test_migration_2_adds_the_column_and_marks_the_samples_already_there(tmp_path: Path) -> None:
    """From a version-1 database with a sample: the column exists, the old sample is marked as
    scored by an earlier driftmon, and new samples carry the scorer that scored them."""
    path = tmp_path / "db.sqlite"
    conn = raw(path)
    migrate(conn, "db.sqlite", target=1)
    conn.execute(
        "INSERT INTO samples VALUES ('old', ?, ?, 'push', 'v1', NULL, NULL, '', '', '{}', NULL, NULL,"
        " NULL, '{}', '{}', 0, NULL, NULL)",
        (T0, T0),
    )
    assert migrate(conn, "db.sqlite", target=2) == 2 and schema_version(conn) == 2
    columns = [row[1] for row in conn.execute("PRAGMA table_info(samples)")]
    assert columns[-1] == "scorer_version"
    store = Store(path)
    store.add(sample("new", T0 + 1.0, "v1", NOW_SCORER))
    readings = {r.ts: r.scorer_version for r in store.iter_readings(T0)}
    assert readings == {T0: EARLIER_SCORER, T0 + 1.0: NOW_SCORER}


def test_version_summary_chooses_baselines_among_samples_of_the_running_scorer(tmp_path: Path) -> None:
    """v1 scored only before the upgrade is no baseline for v2 scored after; once v1 has samples
    scored by the running scorer (it served after the upgrade), it is again."""
    store = Store(tmp_path / "db.sqlite")
    fill(store, "v1", EARLIER_SCORER, T0, 5)
    fill(store, "v2", NOW_SCORER, T0 + 1000.0, 5)
    conn = store.connect()
    everything = [(v["model_version"], v["baseline"]) for v in version_summary(conn, 3)]
    alike = [(v["model_version"], v["samples"], v["baseline"]) for v in version_summary(conn, 3, NOW_SCORER)]
    assert everything == [("v1", None), ("v2", "v1")]
    assert alike == [("v1", 5, None), ("v2", 5, None)]
    fill(store, "v1", NOW_SCORER, T0 + 500.0, 3)
    assert [v["baseline"] for v in version_summary(conn, 3, NOW_SCORER)] == [None, "v1"]


def test_the_previous_version_window_starts_at_its_first_sample_of_the_running_scorer() -> None:
    """Readings not noted (another scorer) stay out of the baseline's span."""
    live = WindowStore(retention=86400.0)
    for index in range(10):  # v1 before the upgrade, then after it
        live.record(T0 + index, {"model_version": "v1"}, {"text_fidelity": 0.5}, note_version=index >= 6)
    live.record(T0 + 20.0, {"model_version": "v2"}, {"text_fidelity": 0.9})
    live.compact(T0 + 30.0)
    baselines = Baselines(live, min_samples=4, window=3600.0)
    reference = baselines.reference("v2", T0 + 30.0)
    assert reference is not None and reference.model_version == "v1"
    assert T0 + 5.0 < reference.start < T0 + 6.0 and reference.end == T0 + 9.0
    assert Baselines(live, min_samples=5, window=3600.0).reference("v2", T0 + 30.0) is None


def test_the_runtime_reads_earlier_samples_for_rules_but_not_as_a_baseline(tmp_path: Path) -> None:
    """After an upgrade the runtime still reads v1's earlier samples (rules see them) but v2,
    scored by the new scorer, gets no baseline from them; samples whose scorer was not recorded
    count as alike."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(textwrap.dedent(RULES))
    config = Config(
        rules=RulesConfig(paths=[rules], baseline_min_samples=3),
        store=StoreConfig(path=tmp_path / "driftmon.db"),
    )
    store = Store(config.store.path)
    fill(store, "v1", EARLIER_SCORER, T0, 5)
    fill(store, "v2", NOW_SCORER, T0 + 100.0, 5)
    fill(store, "v3", None, T0 + 200.0, 5)
    runtime = RuleRuntime(config, store, clock=lambda: T0 + 300.0)
    assert runtime.window.points() == 15
    assert set(runtime.window.versions()) == {"v2", "v3"}
    assert runtime.baselines.reference("v2", T0 + 300.0) is None
    reference = runtime.baselines.reference("v3", T0 + 300.0)
    assert reference is not None and reference.model_version == "v2"


def test_scorer_versions_differ_by_reader_mode() -> None:
    """on_fail, always and off score differently: three distinct versions."""
    assert len({scorer_version("on_fail"), scorer_version("always"), scorer_version("off")}) == 3
