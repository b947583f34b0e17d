"""Report sections: each turns the paired outcomes into metrics (which gate rules read) and HTML.

A section has a `name`, a `title`, the metric names it may produce (`provides`, so a rules file
can be checked before anything runs), `metrics(data)`, `html(data, metrics)` (an extra block
for report.html; "" for none) and `notes(data, metrics)` (lines the terminal summary and
report.json carry; [] for none). The contracts (driftmon/gate/contracts.py: tokens, the cost
projection) are sections appended in `default_sections()`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from driftmon.gate import stats
from driftmon.gate.plan import Outcome
from driftmon.signals import HALLUCINATION, LEGIBILITY, MARGIN_VIOLATION, TEXT_FIDELITY, WORD_F1

#: the fidelity drop the report sizes the sample for
DETECTABLE_DROP = 0.05


@dataclass(frozen=True, slots=True)
class Metric:
    """One compared quantity. Rules read `diff`, `diff.lower`, `diff.upper`, `ratio`, `baseline`,
    `candidate` and `p`; a field that is None makes the rule "n/a"."""

    name: str
    title: str
    section: str
    baseline: float | None
    candidate: float | None
    diff: float | None = None
    lower: float | None = None
    upper: float | None = None
    ratio: float | None = None
    p_value: float | None = None
    n: int = 0
    unit: str = ""
    #: True: higher is better; False: lower is better (for colouring only)
    higher_is_better: bool = True
    note: str | None = None

    def field(self, name: str) -> float | None:
        """The value of a rule field (KeyError for an unknown one)."""
        return {
            "diff": self.diff,
            "diff.lower": self.lower,
            "diff.upper": self.upper,
            "ratio": self.ratio,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "p": self.p_value,
        }[name]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "section": self.section,
            "n": self.n,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "diff": self.diff,
            "diff_lower": self.lower,
            "diff_upper": self.upper,
            "ratio": self.ratio,
            "p_value": self.p_value,
            "unit": self.unit,
            "note": self.note,
        }


RULE_FIELDS = ("diff.lower", "diff.upper", "diff", "ratio", "baseline", "candidate", "p")


@dataclass(frozen=True, slots=True)
class GateData:
    """What sections read: each side's outcomes, paired by job key, plus run settings."""

    pairs: Sequence[tuple[Outcome, Outcome]]
    baseline: Sequence[Outcome]
    candidate: Sequence[Outcome]
    bootstrap_seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def scored_pairs(self) -> list[tuple[Outcome, Outcome]]:
        return [(b, c) for b, c in self.pairs if b.scored and c.scored]


class Section(Protocol):
    name: str
    title: str
    provides: tuple[str, ...]

    def metrics(self, data: GateData) -> list[Metric]: ...

    def html(self, data: GateData, metrics: Sequence[Metric]) -> str: ...

    def notes(self, data: GateData, metrics: Sequence[Metric]) -> list[str]: ...


def _ratio(baseline: float | None, candidate: float | None) -> float | None:
    if baseline is None or candidate is None or baseline == 0:
        return None
    return candidate / baseline


def _paired_metric(
    name: str, title: str, section: str, values: Sequence[tuple[float, float]], seed: int, higher: bool
) -> Metric:
    result = stats.paired([b for b, _ in values], [c for _, c in values], seed=seed)
    if result is None:
        return Metric(name, title, section, None, None, note="no scored pairs report it")
    note = None
    if name == "fidelity":
        needed = stats.pairs_needed(result.sd, DETECTABLE_DROP)
        note = f"{needed} pairs would show a {DETECTABLE_DROP} drop (α 0.05, power 0.8)" if needed else None
    return Metric(
        name,
        title,
        section,
        result.baseline,
        result.candidate,
        result.diff,
        result.lower,
        result.upper,
        _ratio(result.baseline, result.candidate),
        result.p_value,
        result.n,
        higher_is_better=higher,
        note=note,
    )


#: metric name, title, how to read the value of one outcome, higher is better
_QUALITY: tuple[tuple[str, str, Callable[[Outcome], float | None], bool], ...] = (
    ("fidelity", "text fidelity", lambda o: o.scores.get(TEXT_FIDELITY), True),
    (WORD_F1, "word F1", lambda o: o.scores.get(WORD_F1), True),
    (HALLUCINATION, HALLUCINATION, lambda o: o.scores.get(HALLUCINATION), False),
    (LEGIBILITY, LEGIBILITY, lambda o: o.scores.get(LEGIBILITY), True),
    (MARGIN_VIOLATION, "margin violations (share)", lambda o: o.scores.get(MARGIN_VIOLATION), False),
    (
        "failing_share",
        "failing samples (share)",
        lambda o: None if o.failing is None else float(o.failing),
        False,
    ),
)


class QualitySection:
    """Paired image-quality scores: means, paired difference with a bootstrap 95% interval,
    the Wilcoxon signed-rank p-value, and the prompts that regressed most."""

    name = "quality"
    title = "Image quality (paired by prompt and seed)"
    provides: tuple[str, ...] = tuple(name for name, *_ in _QUALITY)

    def metrics(self, data: GateData) -> list[Metric]:
        pairs = data.scored_pairs()
        out = []
        for name, title, read, higher in _QUALITY:
            values = [
                (vb, vc) for b, c in pairs if (vb := read(b)) is not None and (vc := read(c)) is not None
            ]
            out.append(_paired_metric(name, title, self.name, values, data.bootstrap_seed, higher))
        return out

    def html(self, data: GateData, metrics: Sequence[Metric]) -> str:
        worst = regressions(data)[:5]
        if not worst:
            return ""
        items = "".join(
            f"<li><code>{html.escape(key)}</code> {diff:+.3f}</li>" for key, diff in worst if diff < 0
        )
        return f"<h3>Most regressed prompts</h3><ol>{items}</ol>" if items else ""

    def notes(self, data: GateData, metrics: Sequence[Metric]) -> list[str]:
        return []


def regressions(data: GateData) -> list[tuple[str, float]]:
    """(job key, candidate − baseline fidelity) for scored pairs, most regressed first."""
    found = []
    for b, c in data.scored_pairs():
        fb, fc = b.scores.get(TEXT_FIDELITY), c.scores.get(TEXT_FIDELITY)
        if fb is not None and fc is not None:
            found.append((b.job.key, fc - fb))
    return sorted(found, key=lambda item: item[1])


def _side_values(outcomes: Sequence[Outcome], read: Callable[[Outcome], float | None]) -> list[float]:
    return [v for o in outcomes if o.ok and (v := read(o)) is not None]


class CostSection:
    """Latency percentiles per side (measured by the gate's client), steps when reported, and the
    share of failed generations. Not paired: each side's distribution."""

    name = "cost"
    title = "Latency and cost"
    provides: tuple[str, ...] = ("latency_p50", "latency_p95", "latency_p99", "steps", "generation_failures")

    def metrics(self, data: GateData) -> list[Metric]:
        latency = {
            side: _side_values(outcomes, lambda o: o.latency_seconds)
            for side, outcomes in (("b", data.baseline), ("c", data.candidate))
        }
        out = []
        for q in (50, 95, 99):
            b, c = stats.percentile(latency["b"], q), stats.percentile(latency["c"], q)
            out.append(self._metric(f"latency_p{q}", f"latency p{q}", b, c, len(latency["c"]), "s"))
        steps_b = _side_values(data.baseline, lambda o: None if o.steps is None else float(o.steps))
        steps_c = _side_values(data.candidate, lambda o: None if o.steps is None else float(o.steps))
        mean_b = sum(steps_b) / len(steps_b) if steps_b else None
        mean_c = sum(steps_c) / len(steps_c) if steps_c else None
        note = None if steps_b and steps_c else "a source does not report steps"
        out.append(self._metric("steps", "sampling steps (mean)", mean_b, mean_c, len(steps_c), "", note))
        out.append(
            self._metric(
                "generation_failures",
                "failed generations (share)",
                failure_share(data.baseline),
                failure_share(data.candidate),
                len(data.candidate),
                "",
            )
        )
        return out

    def _metric(
        self,
        name: str,
        title: str,
        b: float | None,
        c: float | None,
        n: int,
        unit: str,
        note: str | None = None,
    ) -> Metric:
        diff = None if b is None or c is None else c - b
        return Metric(
            name,
            title,
            self.name,
            b,
            c,
            diff,
            ratio=_ratio(b, c),
            n=n,
            unit=unit,
            higher_is_better=False,
            note=note,
        )

    def html(self, data: GateData, metrics: Sequence[Metric]) -> str:
        return ""

    def notes(self, data: GateData, metrics: Sequence[Metric]) -> list[str]:
        return []


def failure_share(outcomes: Sequence[Outcome]) -> float | None:
    """Share of outcomes that failed to generate (or to decode)."""
    if not outcomes:
        return None
    return sum(1 for o in outcomes if not o.ok) / len(outcomes)


def default_sections(
    tokenizers: tuple[Path | None, Path | None] = (None, None), qps: float = 1.0
) -> list[Section]:
    """The sections every gate report has, in report order (tokenizers: baseline's, candidate's
    directories; the token contract is n/a without both)."""
    from driftmon.gate.contracts import ProjectionSection, TokenSection

    baseline, candidate = tokenizers
    return [QualitySection(), CostSection(), ProjectionSection(qps), TokenSection(baseline, candidate)]
