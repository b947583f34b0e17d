"""The token and cost contracts, live (docs/contracts.md).

* `PromptTokenCheck`: a scorer check (the `Check` protocol of driftmon.scoring.checks) that,
  with ``scoring.tokenizer_dir`` set, tells per sampled prompt whether its expected text falls
  past the tokenizer's limit: the `prompt_truncated` score (1 cut, 0 whole, None without a
  prompt) and the evidence under ``"tokens"`` in the sample's JSON. `prompt_checks(scoring)`
  builds it, or says once that it is off.
* `StepsObserver`: a `ScoreListener` exporting, per model version, the steps a sample reports
  (`driftmon_generation_steps`); the prompts whose expected text was cut are counted with the
  scores (`driftmon_prompt_truncation_checks_total{outcome}`, driftmon/metrics.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from driftmon.signals import PROMPT_TRUNCATED
from driftmon.tokens.contract import HFTokenizer, Tokenizer, check_prompt

if TYPE_CHECKING:
    from driftmon.metrics import Metrics
    from driftmon.pipeline import Scored
    from driftmon.scoring.checks import Batch, Check, Finding

log = structlog.get_logger("driftmon.tokens")


class PromptTokenCheck:
    """`prompt_truncated` per image of a batch, from its meta's prompt and expected text."""

    name = "prompt_tokens"

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def run(self, batch: Batch) -> list[Finding]:
        from driftmon.scoring.checks import Finding

        findings = []
        for meta in batch.metas:
            if not meta.prompt:
                findings.append(Finding({PROMPT_TRUNCATED: None}))
                continue
            checked = check_prompt(self.tokenizer, meta.prompt, meta.expected_text)
            evidence = {"tokenizer": self.tokenizer.name, **checked.as_json()}
            cut = float(checked.expected_text_cut)
            findings.append(Finding({PROMPT_TRUNCATED: cut}, {"tokens": evidence}))
        return findings


def prompt_checks(tokenizer_dir: Path | None) -> list[Check]:
    """[PromptTokenCheck] for ``scoring.tokenizer_dir``; [] (said once, here) without one."""
    if tokenizer_dir is None:
        log.info("prompt_token_check_off", check=PROMPT_TRUNCATED, reason="scoring.tokenizer_dir is not set")
        return []
    tokenizer = HFTokenizer(tokenizer_dir)
    log.info("prompt_token_check_on", tokenizer=str(tokenizer_dir), limit=tokenizer.limit)
    return [PromptTokenCheck(tokenizer)]


class StepsObserver:
    """Listener: the steps each scored sample reports (pushes, the tap, probes), per model version,
    into `driftmon_generation_steps` (truncation is counted with the scores: Metrics.observe_scores)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def on_scored(self, scored: Scored) -> None:
        sample = scored.sample
        self.metrics.observe_contracts(sample.source, scored.version, sample.meta.steps, None)


def evidence_of(sample_evidence: Any) -> dict[str, Any] | None:
    """The token evidence a stored sample carries (None without it)."""
    composition = sample_evidence.get("composition") if isinstance(sample_evidence, dict) else None
    found = composition.get("tokens") if isinstance(composition, dict) else None
    return found if isinstance(found, dict) else None


