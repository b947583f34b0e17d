"""Margins: expected text and counted objects inside the safe area, text not clipped (pure).

The safe area is the image less ``margin_share`` of its width (height) on the left and right
(top and bottom). Checked boxes are the OCR detections holding an expected word (matched or
near-matched) and the counted object boxes. ``safe_area_ratio`` = the checked boxes' area inside
the safe area / their total area; ``margin_violation`` = some box is not wholly inside it, or a
text box touches or crosses the image border (clipped text is always a violation, even with
``margin_share`` 0). None when nothing is checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from driftmon.scoring.checks.base import Batch, Box, Finding, detection_box, flag
from driftmon.scoring.text import TextScores

#: a text box closer than this to the image border touches it
BORDER_PX = 1.0


@dataclass(frozen=True, slots=True)
class CheckedBox:
    """One box the margin check looked at: text (an OCR detection) or a detected object."""

    kind: str
    label: str
    box: Box
    inside_ratio: float
    clipped: bool

    def as_json(self) -> dict[str, Any]:
        """A JSON-able view for evidence."""
        return {
            "kind": self.kind,
            "label": self.label,
            "box": [round(v, 1) for v in self.box],
            "inside_ratio": round(self.inside_ratio, 4),
            "clipped": self.clipped,
        }


@dataclass(frozen=True, slots=True)
class MarginResult:
    """Margin check of one image; `outside` lists the boxes not wholly in the safe area."""

    violation: bool | None
    safe_area_ratio: float | None
    outside: tuple[CheckedBox, ...]


def safe_area(width: int, height: int, margin_share: float) -> Box:
    """The safe area of a `width` × `height` image: `margin_share` off each side."""
    dx, dy = width * margin_share, height * margin_share
    return (dx, dy, width - dx, height - dy)


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _intersection(a: Box, b: Box) -> Box:
    return (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))


def inside_ratio(box: Box, area: Box) -> float:
    """Share of `box`'s area inside `area` (1.0 for a degenerate box wholly inside)."""
    total = _area(box)
    if total == 0:
        inside = area[0] <= box[0] and box[2] <= area[2] and area[1] <= box[1] and box[3] <= area[3]
        return 1.0 if inside else 0.0
    return _area(_intersection(box, area)) / total


def touches_border(box: Box, width: int, height: int) -> bool:
    """Whether `box` touches or crosses the border of a `width` × `height` image."""
    left, top, right, bottom = box
    return (
        left < BORDER_PX
        or top < BORDER_PX
        or right > width - BORDER_PX
        or bottom > height - BORDER_PX
    )


def expected_text_indices(text_scores: TextScores) -> list[int]:
    """Indices of the detections holding an expected word (matched or near-matched)."""
    indices = {
        w.detection_index for w in text_scores.words if w.matched or w.near_match is not None
    }
    return sorted(indices)


def check_margins(
    text_boxes: Sequence[tuple[str, Box]],
    object_boxes: Sequence[tuple[str, Box]],
    width: int,
    height: int,
    margin_share: float,
) -> MarginResult:
    """Margins of one image's expected-text and object boxes ((label, box) pairs)."""
    area = safe_area(width, height, margin_share)
    checked = [
        CheckedBox(kind, label, box, inside_ratio(box, area),
                   kind == "text" and touches_border(box, width, height))
        for kind, boxes in (("text", text_boxes), ("object", object_boxes))
        for label, box in boxes
    ]
    if not checked:
        return MarginResult(None, None, ())
    total = sum(_area(c.box) for c in checked)
    inside = sum(_area(c.box) * c.inside_ratio for c in checked)
    ratio = inside / total if total > 0 else min(c.inside_ratio for c in checked)
    outside = tuple(c for c in checked if c.inside_ratio < 1.0 or c.clipped)
    return MarginResult(bool(outside), ratio, outside)


class MarginsCheck:
    """`margin_violation` and `safe_area_ratio`; object boxes come from the counts check."""

    name = "margins"

    def __init__(self, margin_share: float) -> None:
        self.margin_share = margin_share

    def run(self, batch: Batch) -> list[Finding]:
        """One finding per image."""
        return [self._one(batch, i) for i in range(len(batch.images))]

    def _one(self, batch: Batch, index: int) -> Finding:
        detections = batch.detections[index]
        text_boxes = [
            (detections[i].text, detection_box(detections[i]))
            for i in expected_text_indices(batch.texts[index])
        ]
        height, width = batch.images[index].shape[:2]
        margins = check_margins(
            text_boxes, batch.object_boxes(index), width, height, self.margin_share
        )
        return Finding(
            {"margin_violation": flag(margins.violation),
             "safe_area_ratio": margins.safe_area_ratio},
            {"outside_safe_area": [c.as_json() for c in margins.outside]},
        )
