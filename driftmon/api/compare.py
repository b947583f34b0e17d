"""Side-by-side comparison of two model versions from their recent scored samples (pure)."""

from __future__ import annotations

import html
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from driftmon.samples import ScoredSample
from driftmon.signals import (
    CLIP_SCORE,
    HALLUCINATION,
    LEGIBILITY,
    MARGIN_VIOLATION,
    SAFE_AREA_RATIO,
    TEXT_FIDELITY,
    WORD_F1,
)

COMPARED_SCORES = (TEXT_FIDELITY, WORD_F1, HALLUCINATION, LEGIBILITY, SAFE_AREA_RATIO, CLIP_SCORE)


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _difference(right: float | None, left: float | None) -> float | None:
    return right - left if right is not None and left is not None else None


@dataclass(frozen=True, slots=True)
class VersionSummary:
    """One model version's recent samples: counts, mean scores, latency quantiles, failing share."""

    model_version: str
    samples: int
    scores: dict[str, float | None]
    latency_p50_seconds: float | None
    latency_p95_seconds: float | None
    failing_ratio: float | None
    margin_violation_ratio: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """Both summaries and the differences b − a of every mean score and latency quantile."""

    a: VersionSummary
    b: VersionSummary
    delta_b_minus_a: dict[str, float | None]

    def to_json(self) -> dict[str, Any]:
        """The JSON body of ``/v1/compare?format=json``."""
        return asdict(self)


def _scores_of(samples: Sequence[ScoredSample], name: str) -> list[float]:
    return [v for s in samples if (v := s.scores.get(name)) is not None]


def version_summary(model_version: str, samples: Sequence[ScoredSample]) -> VersionSummary:
    """Counts, mean scores, latency quantiles and failing share of one version's samples."""
    latency = [s.meta.latency_seconds for s in samples if s.meta.latency_seconds is not None]
    return VersionSummary(
        model_version=model_version,
        samples=len(samples),
        scores={name: _mean(_scores_of(samples, name)) for name in COMPARED_SCORES},
        latency_p50_seconds=_quantile(latency, 0.5),
        latency_p95_seconds=_quantile(latency, 0.95),
        failing_ratio=(sum(s.failing for s in samples) / len(samples)) if samples else None,
        margin_violation_ratio=_mean(_scores_of(samples, MARGIN_VIOLATION)),
    )


def compare(
    a: str, samples_a: Sequence[ScoredSample], b: str, samples_b: Sequence[ScoredSample]
) -> Comparison:
    """Both summaries and the differences b − a of every mean score and latency quantile."""
    left, right = version_summary(a, samples_a), version_summary(b, samples_b)
    delta = {name: _difference(right.scores[name], left.scores[name]) for name in COMPARED_SCORES}
    delta["latency_p50_seconds"] = _difference(right.latency_p50_seconds, left.latency_p50_seconds)
    delta["latency_p95_seconds"] = _difference(right.latency_p95_seconds, left.latency_p95_seconds)
    return Comparison(left, right, delta)


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if unit == "ms" else f"{value:.3f}"


def render_html(result: Comparison, pictures: dict[str, list[ScoredSample]], base_url: str = "") -> str:
    """A self-contained HTML page: the summary table and the worst pictures of each version."""
    a, b = result.a, result.b
    rows = [("samples", str(a.samples), str(b.samples))]
    rows += [(name, _fmt(a.scores[name]), _fmt(b.scores[name])) for name in COMPARED_SCORES]
    rows += [
        ("latency p50", _fmt(a.latency_p50_seconds, "ms"), _fmt(b.latency_p50_seconds, "ms")),
        ("latency p95", _fmt(a.latency_p95_seconds, "ms"), _fmt(b.latency_p95_seconds, "ms")),
        ("failing share", _fmt(a.failing_ratio), _fmt(b.failing_ratio)),
    ]
    table = "".join(f"<tr><th>{html.escape(n)}</th><td>{x}</td><td>{y}</td></tr>" for n, x, y in rows)
    columns = []
    for version in (a.model_version, b.model_version):
        images = (
            "".join(
                f'<figure><img src="{base_url}/v1/samples/{s.id}/overlay.png" width="320">'
                f"<figcaption>{html.escape(s.expected_text)} → {html.escape(s.ocr_text)}"
                "</figcaption></figure>"
                for s in pictures.get(version, [])
            )
            or "<p>no failing samples kept</p>"
        )
        columns.append(f"<div><h2>{html.escape(version)}</h2>{images}</div>")
    return (
        "<!doctype html><meta charset=utf-8><title>driftmon: compare</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{padding:4px 12px;"
        "border-bottom:1px solid #ddd}.cols{display:flex;gap:24px}</style>"
        f"<h1>{html.escape(a.model_version)} vs {html.escape(b.model_version)}</h1>"
        f"<table><tr><th></th><th>{html.escape(a.model_version)}</th>"
        f"<th>{html.escape(b.model_version)}</th></tr>{table}</table>"
        f"<div class=cols>{''.join(columns)}</div>"
    )
