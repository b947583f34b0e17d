"""The token contract live: `prompt_truncated` from the scorer's check (with its evidence), its
counter and the steps histogram per model version for pushed and probed samples, the rule signal,
and the log line when it is off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from driftmon.config import CompositionConfig, ScoringConfig
from driftmon.metrics import Metrics
from driftmon.pipeline import Scored
from driftmon.rules.compile import KNOWN_SIGNALS
from driftmon.rules.export import SIGNALS as EXPORTED
from driftmon.samples import SampleMeta, ScoredSample
from driftmon.scoring.checks import Batch
from driftmon.scoring.composition import CompositionScorer
from driftmon.scoring.scorer import Scorer
from driftmon.store import reading_values
from driftmon.tokens.contract import HFTokenizer
from driftmon.tokens.live import PromptTokenCheck, StepsObserver, prompt_checks
from tests.unit.tokens_support import build_tokenizer

OPEN = 'a shop door with a small sign that says "OPEN"'
STOP = 'a red "STOP" sign'


@pytest.fixture(scope="module")
def short_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tokenizer(tmp_path_factory.mktemp("tok") / "short", 8)


class NoText:
    name, device = "none", "cpu"

    def read(self, images: list[np.ndarray]) -> list[list[object]]:
        return [[] for _ in images]


def test_check_scores_each_prompt_and_keeps_the_evidence(short_dir: Path) -> None:
    check = PromptTokenCheck(HFTokenizer(short_dir))
    metas = [SampleMeta(prompt=OPEN), SampleMeta(prompt=STOP), SampleMeta()]
    images = [np.zeros((8, 8, 3), np.uint8)] * 3
    cut, whole, none = check.run(Batch(images, [[]] * 3, [None] * 3, metas))  # type: ignore[list-item]
    assert cut.scores == {"prompt_truncated": 1.0} and whole.scores == {"prompt_truncated": 0.0}
    assert none.scores == {"prompt_truncated": None} and none.evidence == {}
    assert cut.evidence["tokens"] == {
        "tokenizer": "short", "tokens": 14, "limit": 8, "truncated": True, "cut_at_char": 24,
        "expected_text_cut": True, "cut_lines": ["OPEN"],
    }  # fmt: skip


def test_scorer_with_the_check_puts_the_score_and_evidence_in_the_sample(short_dir: Path) -> None:
    composition = CompositionScorer(CompositionConfig(), device="cpu")
    composition.checks.extend(prompt_checks(short_dir))
    result = Scorer(NoText(), composition=composition).score(  # type: ignore[arg-type]
        np.full((64, 64, 3), 200, np.uint8), ["OPEN"], SampleMeta(prompt=OPEN)
    )
    assert result.scores["prompt_truncated"] == 1.0
    assert result.evidence["composition"]["tokens"]["cut_lines"] == ["OPEN"]


def test_off_without_a_tokenizer_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    from structlog.testing import capture_logs

    assert ScoringConfig().tokenizer_dir is None
    with capture_logs() as logs:
        assert prompt_checks(None) == []
    assert [entry["event"] for entry in logs] == ["prompt_token_check_off"]
    assert "tokenizer_dir" in logs[0]["reason"]


def scored(source: str, version: str, steps: int | None, truncated: float | None) -> Scored:
    meta = SampleMeta(prompt=OPEN, model_version=version, steps=steps)
    sample = ScoredSample(
        id=f"{source}-{steps}", source=source, received_at=0.0, scored_at=0.0, meta=meta,
        scores={"prompt_truncated": truncated}, ocr_text="", expected_text="OPEN", evidence={}, failing=False,
    )  # fmt: skip
    return Scored(sample, version)


@pytest.mark.parametrize("source", ["push", "probe"])
def test_counter_and_steps_per_model_version(source: str) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    observer = StepsObserver(metrics)
    for steps, truncated in ((20, 1.0), (30, 0.0), (None, 0.0), (20, None)):
        item = scored(source, "v2", steps, truncated)
        version = metrics.observe_scores(source, "v2", item.sample.scores, None)
        observer.on_scored(Scored(item.sample, version))
    labels = {"source": source, "model_version": "v2"}
    value = registry.get_sample_value
    assert value("driftmon_prompt_truncation_checks_total", {**labels, "outcome": "truncated"}) == 1.0
    assert value("driftmon_prompt_truncation_checks_total", {**labels, "outcome": "intact"}) == 2.0
    assert value("driftmon_generation_steps_count", labels) == 3.0
    assert value("driftmon_generation_steps_sum", labels) == 70.0
    assert value("driftmon_generation_steps_bucket", {**labels, "le": "20.0"}) == 2.0


def test_rules_read_it_and_it_exports_as_a_share() -> None:
    assert "prompt_truncated" in KNOWN_SIGNALS
    assert reading_values(scored("push", "v2", 20, 1.0).sample)["prompt_truncated"] == 1.0
    exported = EXPORTED["prompt_truncated"]
    assert exported.metric == "driftmon_prompt_truncation_checks_total"
    assert getattr(exported, "outcome", None) == "truncated"
    # steps now export as the histogram driftmon_generation_steps (per model version)
    assert EXPORTED["steps"].metric == "driftmon_generation_steps"
    assert "model_version" in EXPORTED["steps"].labels
