"""The signal catalogue is the one truth: scorers compute only catalogue scores, each score name is
written once (plus the check computing it), the families it describes are the ones the daemon
exposes, and the docs tables are generated from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from driftmon import signals
from driftmon.config import CompositionConfig
from driftmon.metrics import Metrics
from driftmon.rules.compile import KNOWN_SIGNALS
from driftmon.rules.export import SIGNALS as EXPORT_SIGNALS
from driftmon.samples import SampleMeta
from driftmon.scoring.checks import Batch
from driftmon.scoring.composition import CompositionScorer
from driftmon.scoring.composition_metrics import CompositionMetrics
from driftmon.scoring.objects import ObjectBox
from driftmon.scoring.scorer import Scorer
from driftmon.sources.probe import ProbeMetrics
from tests.unit.test_composition_scorer import FakeDetector, FakeEmbedder, text_image

ROOT = Path(__file__).resolve().parents[2]
SIZE = 256
class FakeOcr:
    """Reads every image as the one HELLO detection of `text_image`."""

    device = "cpu"

    def read(self, images):
        return [text_image()[1] for _ in images]


def full_scorer() -> CompositionScorer:
    """Every check on, with a detector that finds three cats and a fake CLIP model."""
    cats = [ObjectBox("cat", 0.9, (40.0 + 60 * i, 150.0, 90.0 + 60 * i, 200.0)) for i in range(3)]
    return CompositionScorer(
        CompositionConfig(), detector=FakeDetector({"cat": cats}), embedder=FakeEmbedder()
    )


def test_scorer_computes_exactly_the_catalogue_scores() -> None:
    """Every check's scores are catalogue names, together they compute every composition score,
    and a scored sample carries the text and composition scores of the catalogue, nothing else."""
    composition = full_scorer()
    image, detections = text_image()
    meta = SampleMeta(prompt='three cats under a sign "HELLO"', size=(SIZE, SIZE))
    result = Scorer(FakeOcr(), composition=composition).score(image, ["HELLO"], meta)
    assert set(result.scores) == set(signals.TEXT_SCORES) | set(signals.COMPOSITION_SCORES)

    batch = Batch([image], [detections], [result.text], [meta])
    computed: set[str] = set()
    for check in composition.checks:
        (finding,) = check.run(batch)
        assert set(finding.scores) <= set(signals.COMPOSITION_SCORES), type(check).__name__
        computed |= {name for name, value in finding.scores.items() if value is not None}
        batch = batch.with_findings([finding])
    assert computed == set(signals.COMPOSITION_SCORES)


def _literal_files(name: str) -> set[str]:
    pattern = re.compile(rf"""["']{re.escape(name)}["']""")
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "driftmon").rglob("*.py")
        if pattern.search(path.read_text("utf-8"))
    }


@pytest.mark.parametrize("name", [*signals.TEXT_SCORES, *signals.COMPOSITION_SCORES])
def test_each_score_name_is_spelled_in_the_catalogue_and_its_check_only(name: str) -> None:
    """A score name is a string literal in driftmon/signals.py and at most one check module."""
    files = _literal_files(name)
    assert "driftmon/signals.py" in files
    checks = files - {"driftmon/signals.py"}
    assert len(checks) <= 1 and all(f.startswith("driftmon/scoring/checks/") for f in checks), files


def test_rule_signals_and_exports_come_from_the_catalogue() -> None:
    """Rules know every catalogue signal (aliases too) and export exactly the exporting ones."""
    assert {n for s in signals.CATALOGUE for n in s.rule_names} == KNOWN_SIGNALS
    assert set(EXPORT_SIGNALS) == {s.name for s in signals.CATALOGUE if s.export is not None}
    for name, exported in EXPORT_SIGNALS.items():
        assert exported.metric == signals.BY_NAME[name].export_series


def _exposed(registry: CollectorRegistry) -> set[str]:
    """Every sample name the registry exposes (counters with _total, histograms' _bucket...)."""
    return {sample.name for family in registry.collect() for sample in family.samples}


def _series_of(metric: signals.Metric) -> str:
    return metric.name + ("_count" if metric.type == "histogram" else "")


def test_every_catalogue_metric_is_exposed_under_its_name() -> None:
    """The daemon's families, after one observation each, expose every catalogue metric name
    (GPU gauges are checked against gpu.py's table: they need NVML)."""
    from driftmon.gpu import _DEVICE_GAUGES

    registry = CollectorRegistry()
    metrics = Metrics(registry)
    composition = CompositionMetrics(registry)
    probes = ProbeMetrics(registry, ["p"])
    scores = {s.name: 1.0 for s in signals.CATALOGUE}
    metrics.observe_scores("push", "v1", scores, 0.5)
    metrics.observe_contracts("push", "v1", 20, None)  # steps come from the meta, not the scores
    metrics.count("push", "v1", "shed")
    composition.observe("push", "v1", scores)
    probes.requests.labels(probe="p", outcome="failed").inc()
    composition.embedding_drift_statistic.labels(method="classifier_auc", model_version="v1").set(0.5)
    composition.embedding_drift_detected.labels(model_version="v1").set(0)
    exposed = _exposed(registry) | {name for name, _, _ in _DEVICE_GAUGES}
    for signal in signals.CATALOGUE:
        if signal.metric is not None:
            assert _series_of(signal.metric) in exposed, signal.name
        if signal.export is not None and signal.export.recording is not None:
            inputs = re.findall(r"driftmon_[a-z_]+", signal.export.recording.expr)
            assert inputs and set(inputs) <= exposed, signal.name


def test_counters_count_the_catalogue_value() -> None:
    """A flag's counter counts the value the catalogue names (size_ok counts mismatches, 0)."""
    registry = CollectorRegistry()
    metrics, composition = Metrics(registry), CompositionMetrics(registry)
    ones = {s.name: 1.0 for s in signals.CATALOGUE}
    metrics.observe_scores("push", "v1", ones, None)
    composition.observe("push", "v1", ones)
    labels = {"source": "push", "model_version": "v1"}
    for signal in signals.CATALOGUE:
        if signal.metric is not None and signal.metric.counts is not None:
            expected = 1.0 if signal.metric.counts == 1.0 else 0.0
            assert registry.get_sample_value(signal.metric.name, labels) == expected, signal.name


def test_text_ratio_buckets_are_the_public_ones() -> None:
    """driftmon_text_fidelity_ratio keeps its bucket bounds (share_below thresholds rely on them)."""
    fidelity = signals.BY_NAME["text_fidelity"].metric
    assert fidelity is not None and fidelity.buckets == signals.RATIO_BUCKETS
    assert 0.85 in signals.RATIO_BUCKETS and 0.99 in signals.SHARE_BUCKETS


def test_table_columns_format_flags_in_words() -> None:
    """`driftmon score` columns: catalogue order by position; flags in words, ratios to 3 places."""
    headers = [s.column.header for s in signals.TABLE_COLUMNS if s.column is not None]
    assert headers == ["fidelity", "word F1", "exact", "halluc.", "legible", "margin"]
    by_header = {s.column.header: s for s in signals.TABLE_COLUMNS if s.column is not None}
    assert signals.format_cell(by_header["margin"], 1.0) == "violated"
    assert signals.format_cell(by_header["exact"], True) == "yes"
    assert signals.format_cell(by_header["fidelity"], 0.5) == "0.500"
    assert signals.format_cell(by_header["legible"], None) == "—"


def test_docs_tables_are_generated_from_the_catalogue() -> None:
    """README, docs/rules.md and docs/composition.md hold the tables the catalogue generates
    (regenerate with `python -m driftmon.signals --write`)."""
    stale = signals.stale_docs(ROOT)
    assert not stale, f"stale: {sorted(str(p) for p in stale)}; run python -m driftmon.signals --write"


def test_fill_tables_needs_its_markers() -> None:
    """A doc without the markers of its table is an error, not a silent skip."""
    with pytest.raises(ValueError, match="signals:readme-scores"):
        signals.fill_tables("no markers here\n", ["readme-scores"])
    filled = signals.fill_tables(
        "a\n<!-- signals:readme-scores -->\nSTALE\n<!-- /signals:readme-scores -->\nb\n", ["readme-scores"]
    )
    assert filled.startswith("a\n<!-- signals:readme-scores -->\n| score |") and "STALE" not in filled

