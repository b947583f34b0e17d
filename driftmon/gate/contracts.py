"""The gate's contract sections (docs/contracts.md): tokens and the cost projection.

* `TokenSection`: every prompt under the baseline's and the candidate's tokenizer — token
  counts, truncation at `model_max_length`, expected text past the cut, a diff of the tokens.
  Rule metric ``expected_text_newly_cut`` (candidate: prompts whose expected text the candidate
  cuts and the baseline keeps); n/a without tokenizers.
* `ProjectionSection`: GPU-seconds per image (reported by the generator, else the measured
  latency as an upper-bound proxy: said which), GPU-hours per day at ``--qps`` per side and the
  difference; steps, sampler and image size as reported.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from driftmon.errors import ConfigError
from driftmon.gate import stats
from driftmon.gate.plan import Outcome
from driftmon.gate.sections import GateData, Metric
from driftmon.tokens.contract import Comparison, HFTokenizer, Tokenizer, compare

#: the diffs report.html shows in full (the rest are in report.json)
MAX_DIFFS = 20


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _ratio(b: float | None, c: float | None) -> float | None:
    return None if b is None or c is None or b == 0 else c / b


def _pair_metric(
    name: str,
    title: str,
    section: str,
    b: float | None,
    c: float | None,
    *,
    n: int = 0,
    unit: str = "",
    note: str | None = None,
) -> Metric:
    diff = None if b is None or c is None else c - b
    return Metric(
        name, title, section, b, c, diff, ratio=_ratio(b, c), n=n, unit=unit, higher_is_better=False,
        note=note,
    )  # fmt: skip


# ----------------------------------------------------------------------------------- tokens


class TokenSection:
    """Token counts, truncation and expected text past the cut, per prompt, on both sides."""

    name = "tokens"
    title = "Token contract"
    provides: tuple[str, ...] = (
        "expected_text_newly_cut",
        "expected_text_cut",
        "prompt_tokens",
        "prompts_truncated",
    )

    def __init__(
        self,
        baseline: Path | Tokenizer | None = None,
        candidate: Path | Tokenizer | None = None,
    ) -> None:
        if (baseline is None) != (candidate is None):
            raise ConfigError("the token contract needs both --tokenizer-baseline and --tokenizer-candidate")
        self.baseline = HFTokenizer(baseline) if isinstance(baseline, Path | str) else baseline
        self.candidate = HFTokenizer(candidate) if isinstance(candidate, Path | str) else candidate
        self._cache: tuple[int, list[Comparison]] | None = None

    def comparisons(self, data: GateData) -> list[Comparison]:
        """Each distinct prompt of the run under both tokenizers ([] without tokenizers)."""
        if self.baseline is None or self.candidate is None:
            return []
        if self._cache is not None and self._cache[0] == id(data):
            return self._cache[1]
        seen: dict[str, Comparison] = {}
        for b, _ in data.pairs:
            prompt = b.job.prompt
            if prompt.id not in seen and prompt.text:
                seen[prompt.id] = compare(
                    prompt.id, prompt.text, self.baseline, self.candidate, prompt.expected_text
                )
        self._cache = (id(data), list(seen.values()))
        return self._cache[1]

    def metrics(self, data: GateData) -> list[Metric]:
        found = self.comparisons(data)
        if not found:
            why = self._why_not()
            return [Metric(name, name, self.name, None, None, note=why) for name in self.provides]
        n = len(found)
        fixed = sum(1 for c in found if c.baseline.expected_text_cut and not c.candidate.expected_text_cut)
        newly = sum(1 for c in found if c.newly_cut)
        return [
            _pair_metric(
                "expected_text_newly_cut", "prompts whose expected text only the candidate cuts",
                self.name, float(fixed), float(newly), n=n,
                note="baseline: cut only by the baseline; candidate: cut only by the candidate",
            ),
            _pair_metric(
                "expected_text_cut", "prompts with expected text past the cut", self.name,
                float(sum(c.baseline.expected_text_cut for c in found)),
                float(sum(c.candidate.expected_text_cut for c in found)), n=n,
            ),
            _pair_metric(
                "prompt_tokens", "tokens per prompt (mean)", self.name,
                sum(c.baseline.count for c in found) / n, sum(c.candidate.count for c in found) / n, n=n,
            ),
            _pair_metric(
                "prompts_truncated", "prompts longer than the limit", self.name,
                float(sum(c.baseline.truncated for c in found)),
                float(sum(c.candidate.truncated for c in found)), n=n,
            ),
        ]

    def _why_not(self) -> str:
        if self.baseline is None or self.candidate is None:
            return "no tokenizers (--tokenizer-baseline, --tokenizer-candidate)"
        return "no prompts"

    def notes(self, data: GateData, metrics: Sequence[Metric]) -> list[str]:
        found = self.comparisons(data)
        if not found:
            return [f"{self.title}: n/a ({self._why_not()})"]
        assert self.baseline is not None and self.candidate is not None
        newly = [c for c in found if c.newly_cut]
        lines = [
            f"{self.title}: tokenizers {self.baseline.name} (baseline), {self.candidate.name} (candidate)",
            f"  {len(found)} prompts; expected text cut by the candidate only: {len(newly)}; "
            f"truncated: baseline {sum(c.baseline.truncated for c in found)}, "
            f"candidate {sum(c.candidate.truncated for c in found)}",
        ]
        for c in newly:
            lost = ", ".join(f'"{line}"' for line in c.candidate.cut_lines)
            lines.append(
                f"  CUT {c.prompt_id}: {lost} past the candidate's limit "
                f"({c.candidate.count} tokens, limit {c.candidate.limit})"
            )
        return lines

    def html(self, data: GateData, metrics: Sequence[Metric]) -> str:
        found = self.comparisons(data)
        if not found:
            return ""
        rows = []
        for c in found:
            css = "fail" if c.newly_cut else ""
            rows.append(
                f'<tr class="{css}"><td><code>{_e(c.prompt_id)}</code></td>'
                f'<td class="num">{c.baseline.count}/{_e(c.baseline.limit)}</td>'
                f'<td class="num">{c.candidate.count}/{_e(c.candidate.limit)}</td>'
                f"<td>{_e(', '.join(c.baseline.cut_lines))}</td>"
                f"<td>{_e(', '.join(c.candidate.cut_lines))}</td></tr>"
            )
        diffs = "".join(
            f"<details><summary><code>{_e(c.prompt_id)}</code></summary><pre>{_e(c.diff)}</pre></details>"
            for c in [c for c in found if c.diff][:MAX_DIFFS]
        )
        head = (
            "<tr><th>prompt</th><th>baseline tokens/limit</th><th>candidate tokens/limit</th>"
            "<th>cut (baseline)</th><th>cut (candidate)</th></tr>"
        )
        return (
            f'<h2>{_e(self.title)}</h2><table id="tokens">{head}{"".join(rows)}</table>'
            + (f"<h3>Token diffs</h3>{diffs}" if diffs else "")
        )


# ------------------------------------------------------------------------------ projection


@dataclass(frozen=True, slots=True)
class Projection:
    """GPU-seconds per image per side, on one basis, and GPU-hours per day at `qps`."""

    basis: str  # "reported" or "latency"
    qps: float
    baseline_seconds: float | None
    candidate_seconds: float | None

    def hours_per_day(self, seconds: float | None) -> float | None:
        return None if seconds is None else seconds * self.qps * 86400 / 3600

    @property
    def baseline_hours(self) -> float | None:
        return self.hours_per_day(self.baseline_seconds)

    @property
    def candidate_hours(self) -> float | None:
        return self.hours_per_day(self.candidate_seconds)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _values(outcomes: Sequence[Outcome], read: Callable[[Outcome], float | None]) -> list[float]:
    return [v for o in outcomes if o.ok and (v := read(o)) is not None]


def project(baseline: Sequence[Outcome], candidate: Sequence[Outcome], qps: float) -> Projection:
    """Reported GPU-seconds when every generated image on both sides has them, else the measured
    latency on both sides (the same basis on both sides; pure)."""
    def reported(side: Sequence[Outcome]) -> list[float]:
        values = _values(side, lambda o: o.gpu_seconds)
        return values if values and len(values) == sum(1 for o in side if o.ok) else []

    rb, rc = reported(baseline), reported(candidate)
    if rb and rc:
        return Projection("reported", qps, _mean(rb), _mean(rc))
    return Projection("latency", qps, _mean(_values(baseline, _latency)), _mean(_values(candidate, _latency)))


def _latency(outcome: Outcome) -> float | None:
    return outcome.latency_seconds


def _common(values: Sequence[object]) -> str:
    """The most common value, with how many others there are ("—" for none)."""
    found = Counter(v for v in values if v is not None)
    if not found:
        return "—"
    value, _ = found.most_common(1)[0]
    return str(value) + (f" (+{len(found) - 1} other)" if len(found) > 1 else "")


class ProjectionSection:
    """GPU-seconds per image, GPU-hours per day at `qps`, and what the generators report."""

    name = "projection"
    title = "Cost contract"
    provides: tuple[str, ...] = ("gpu_seconds_per_image", "gpu_hours_per_day")

    def __init__(self, qps: float = 1.0) -> None:
        self.qps = qps

    def metrics(self, data: GateData) -> list[Metric]:
        p = project(data.baseline, data.candidate, self.qps)
        n = sum(1 for o in data.candidate if o.ok)
        basis = "reported GPU-seconds" if p.basis == "reported" else "measured latency (upper bound)"
        return [
            _pair_metric("gpu_seconds_per_image", "GPU-seconds per image", self.name,
                         p.baseline_seconds, p.candidate_seconds, n=n, unit="s", note=basis),
            _pair_metric("gpu_hours_per_day", f"GPU-hours per day at {self.qps:g} images/s", self.name,
                         p.baseline_hours, p.candidate_hours, n=n, unit="h", note=basis),
        ]  # fmt: skip

    def notes(self, data: GateData, metrics: Sequence[Metric]) -> list[str]:
        p = project(data.baseline, data.candidate, self.qps)
        basis = (
            "GPU-seconds per image = the value each generator reported"
            if p.basis == "reported"
            else "GPU-seconds per image = measured latency, an upper-bound proxy (it includes network, "
            "queueing and encoding; a source reports none)"
        )
        title = f"{self.title} at {self.qps:g} images/s (GPU-hours/day = GPU-s/image × qps × 24):"
        lines = [title, f"  {basis}"]
        for side, seconds, hours in (
            ("baseline", p.baseline_seconds, p.baseline_hours),
            ("candidate", p.candidate_seconds, p.candidate_hours),
        ):
            if seconds is None or hours is None:
                lines.append(f"  {side:<9}  no data")
            else:
                lines.append(f"  {side:<9}  {seconds:.3f} GPU-s/image → {hours:.2f} GPU-hours/day")
        if p.baseline_hours is not None and p.candidate_hours is not None and p.baseline_hours > 0:
            lines.append(
                f"  difference {p.candidate_hours - p.baseline_hours:+.2f} GPU-hours/day "
                f"(×{p.candidate_hours / p.baseline_hours:.2f})"
            )
        lines.extend(self._reported(data))
        return lines

    @staticmethod
    def _reported(data: GateData) -> list[str]:
        lines = []
        for side, outcomes in (("baseline", data.baseline), ("candidate", data.candidate)):
            ok = [o for o in outcomes if o.ok]
            latency = _values(ok, _latency)
            pcts = "/".join(
                "—" if (v := stats.percentile(latency, q)) is None else f"{v:.3f}" for q in (50, 95, 99)
            )
            size = _common([None if o.image_size is None else "{}×{}".format(*o.image_size) for o in ok])
            lines.append(
                f"  {side:<9}  latency p50/p95/p99 {pcts} s · steps {_common([o.steps for o in ok])} · "
                f"sampler {_common([o.sampler for o in ok])} · image {size}"
            )
        return lines

    def html(self, data: GateData, metrics: Sequence[Metric]) -> str:
        items = "".join(f"<li>{_e(line.strip())}</li>" for line in self.notes(data, metrics)[1:])
        return f'<h2>{_e(self.title)}</h2><ul id="projection">{items}</ul>'
