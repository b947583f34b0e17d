"""Side-by-side comparison of two model versions from their recent scored samples (pure)."""

from __future__ import annotations

import html
import statistics
from collections.abc import Sequence
from typing import Any

from driftmon.samples import ScoredSample

COMPARED_SCORES = ("text_fidelity", "word_f1", "hallucination", "legibility", "safe_area_ratio", "clip_score")


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def version_summary(samples: Sequence[ScoredSample]) -> dict[str, Any]:
    """Counts, mean scores, latency quantiles and failing share of one version's samples."""
    latency = [s.meta.latency_seconds for s in samples if s.meta.latency_seconds is not None]
    scores = {
        name: _mean([v for s in samples if (v := s.scores.get(name)) is not None]) for name in COMPARED_SCORES
    }
    return {
        "samples": len(samples),
        "scores": scores,
        "latency_p50_seconds": _quantile(latency, 0.5),
        "latency_p95_seconds": _quantile(latency, 0.95),
        "failing_ratio": (sum(s.failing for s in samples) / len(samples)) if samples else None,
        "margin_violation_ratio": _mean(
            [v for s in samples if (v := s.scores.get("margin_violation")) is not None]
        ),
    }


def compare(
    a: str, samples_a: Sequence[ScoredSample], b: str, samples_b: Sequence[ScoredSample]
) -> dict[str, Any]:
    """Both summaries and the differences b − a of every mean score and latency quantile."""
    left, right = version_summary(samples_a), version_summary(samples_b)
    delta = {
        name: (right["scores"][name] - left["scores"][name])
        if left["scores"][name] is not None and right["scores"][name] is not None
        else None
        for name in COMPARED_SCORES
    }
    for key in ("latency_p50_seconds", "latency_p95_seconds"):
        delta[key] = right[key] - left[key] if left[key] is not None and right[key] is not None else None
    return {"a": {"model_version": a, **left}, "b": {"model_version": b, **right}, "delta_b_minus_a": delta}


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if unit == "ms" else f"{value:.3f}"


def render_html(result: dict[str, Any], pictures: dict[str, list[ScoredSample]], base_url: str = "") -> str:
    """A self-contained HTML page: the summary table and the worst pictures of each version."""
    a, b = result["a"], result["b"]
    rows = [("samples", str(a["samples"]), str(b["samples"]))]
    rows += [(name, _fmt(a["scores"][name]), _fmt(b["scores"][name])) for name in COMPARED_SCORES]
    rows += [
        ("latency p50", _fmt(a["latency_p50_seconds"], "ms"), _fmt(b["latency_p50_seconds"], "ms")),
        ("latency p95", _fmt(a["latency_p95_seconds"], "ms"), _fmt(b["latency_p95_seconds"], "ms")),
        ("failing share", _fmt(a["failing_ratio"]), _fmt(b["failing_ratio"])),
    ]
    table = "".join(f"<tr><th>{html.escape(n)}</th><td>{x}</td><td>{y}</td></tr>" for n, x, y in rows)
    columns = []
    for version in (a["model_version"], b["model_version"]):
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
        f"<h1>{html.escape(a['model_version'])} vs {html.escape(b['model_version'])}</h1>"
        f"<table><tr><th></th><th>{html.escape(a['model_version'])}</th>"
        f"<th>{html.escape(b['model_version'])}</th></tr>{table}</table>"
        f"<div class=cols>{''.join(columns)}</div>"
    )
