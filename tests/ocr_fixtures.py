"""Shared pieces of the OCR equivalence tests (CPU and GPU): the image set and the comparison."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from driftmon.scoring.text import read_text, score_text
from driftmon.scoring.types import Detection
from tests.ocr_images import TextImage, make_text_image

#: square sizes cycled over the set: several buckets, one (300) that is not a multiple of 32
EQUIVALENCE_SIZES = (256, 320, 300, 384)


def equivalence_set(
    n: int = 56, seed: int = 7000, sizes: Sequence[int] = EQUIVALENCE_SIZES
) -> list[TextImage]:
    """`n` deterministic images with 0–4 lines, sizes cycling through `sizes`."""
    return [make_text_image(seed + i, sizes[i % len(sizes)]) for i in range(n)]


@dataclass(frozen=True)
class Comparison:
    """How two OCR engines' outputs on the same images compare."""

    identical_share: float
    worst_fidelity_gap: float
    differences: tuple[str, ...]  # "#i: 'a' vs 'b'" for images whose text differs
    reference_fidelity: tuple[float | None, ...]


def compare(
    samples: Sequence[TextImage],
    reference: Sequence[Sequence[Detection]],
    candidate: Sequence[Sequence[Detection]],
) -> Comparison:
    """Reading-order text equality and text-fidelity gaps, image by image."""
    differences, gaps, fidelities = [], [], []
    for index, (sample, ref, out) in enumerate(zip(samples, reference, candidate, strict=True)):
        if read_text(ref) != read_text(out):
            differences.append(f"#{index}: {read_text(ref)!r} vs {read_text(out)!r}")
        a = score_text(sample.lines, ref).text_fidelity
        b = score_text(sample.lines, out).text_fidelity
        gaps.append(0.0 if a is None and b is None else abs((a or 0.0) - (b or 0.0)))
        fidelities.append(a)
    return Comparison(
        identical_share=1 - len(differences) / len(samples),
        worst_fidelity_gap=max(gaps, default=0.0),
        differences=tuple(differences),
        reference_fidelity=tuple(fidelities),
    )
