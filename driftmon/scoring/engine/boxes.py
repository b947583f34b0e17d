"""Host-side box extraction: EasyOCR's `getDetBoxes_core` and `group_text_box`, reproduced.

The device reduces CRAFT's two heat maps to one uint8 map of flags per pixel (`TEXT`: text score
above `low_text`, `LINK`: link score above `link_threshold`, `STRONG`: text score at least
`text_threshold`). Everything here works from that map, and touches only each component's
bounding region, where EasyOCR builds a full-image mask per component.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from driftmon.scoring.engine.params import ReadParams

TEXT = 1
LINK = 2
STRONG = 4
#: EasyOCR drops connected components smaller than this (heat-map pixels)
MIN_COMPONENT_AREA = 10

HorizontalBox = list[int]  # [x_min, x_max, y_min, y_max]
FreeBox = list[list[float]]  # four [x, y] points, clockwise from top-left


def flags_from_maps(text: np.ndarray, link: np.ndarray, params: ReadParams) -> np.ndarray:
    """The flag map of two float32 heat maps (numpy twin of the device code, for tests)."""
    flags = (text > np.float32(params.low_text)).astype(np.uint8) * TEXT
    flags |= (link > np.float32(params.link_threshold)).astype(np.uint8) * LINK
    flags |= (text >= np.float32(params.text_threshold)).astype(np.uint8) * STRONG
    return flags


def heatmap_boxes(flags: np.ndarray) -> list[np.ndarray]:
    """Rotated boxes (4×2 float32, clockwise from top-left) of the text regions of a flag map."""
    combined = ((flags & (TEXT | LINK)) != 0).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(combined, connectivity=4)
    strong = np.bincount(labels[(flags & STRONG) != 0], minlength=count) > 0
    link_only = (flags & (TEXT | LINK)) == LINK
    boxes = []
    for k in range(1, count):
        if stats[k, cv2.CC_STAT_AREA] < MIN_COMPONENT_AREA or not strong[k]:
            continue
        boxes.append(_component_box(labels, link_only, k, stats[k]))
    return boxes


def _component_box(
    labels: np.ndarray, link_only: np.ndarray, k: int, stat: np.ndarray
) -> np.ndarray:
    """The box of component `k`: its mask less link-only pixels, dilated, then minAreaRect."""
    x, y, w, h, area = (int(v) for v in stat[:5])
    niter = int(math.sqrt(area * min(w, h) / (w * h)) * 2)
    img_h, img_w = labels.shape
    sx, sy = max(x - niter, 0), max(y - niter, 0)
    ex, ey = min(x + w + niter + 1, img_w), min(y + h + niter + 1, img_h)
    region = (labels[sy:ey, sx:ex] == k) & ~link_only[sy:ey, sx:ex]
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (1 + niter, 1 + niter))
    mask = cv2.dilate(region.astype(np.uint8) * 255, kernel)
    rows, cols = np.nonzero(mask)
    points = np.stack([cols + sx, rows + sy], axis=1)
    box = cv2.boxPoints(cv2.minAreaRect(points))
    return _clockwise(_square_up(box, points))


def _square_up(box: np.ndarray, points: np.ndarray) -> np.ndarray:
    """A near-square rotated box becomes the axis-aligned bounding box (EasyOCR's 'diamond')."""
    w, h = np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[1] - box[2])
    if abs(1 - max(w, h) / (min(w, h) + 1e-5)) > 0.1:
        return box
    left, right = points[:, 0].min(), points[:, 0].max()
    top, bottom = points[:, 1].min(), points[:, 1].max()
    return np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float32)


def _clockwise(box: np.ndarray) -> np.ndarray:
    start = int(box.sum(axis=1).argmin())
    return np.roll(box, 4 - start, 0)


def to_image_polys(boxes: Sequence[np.ndarray], scale: float) -> list[list[int]]:
    """Heat-map boxes → 8 integer image coordinates each (EasyOCR truncates, as here)."""
    polys = []
    for box in boxes:
        scaled = (box.astype(np.float64) * scale).astype(np.float32)
        polys.append([int(v) for v in scaled.astype(np.int32).reshape(-1)])
    return polys


def group_text_boxes(
    polys: Sequence[Sequence[int]], params: ReadParams
) -> tuple[list[HorizontalBox], list[FreeBox]]:
    """EasyOCR's `group_text_box` then its `min_size` filter: line boxes and rotated boxes."""
    rows, free = [], []
    for poly in polys:
        if _is_horizontal(poly, params.slope_ths):
            rows.append(_row(poly))
        else:
            free.append(_free_box(poly, params.add_margin))
    rows.sort(key=lambda row: row[4])
    merged = [box for line in _lines(rows, params) for box in _merge_line(line, params)]
    size = params.min_size
    merged = [b for b in merged if max(b[1] - b[0], b[3] - b[2]) > size]
    free = [b for b in free if max(_span([p[0] for p in b]), _span([p[1] for p in b])) > size]
    return merged, free


def _span(values: list[float]) -> float:
    return max(values) - min(values)


def _is_horizontal(poly: Sequence[int], slope_ths: float) -> bool:
    slope_up = (poly[3] - poly[1]) / np.maximum(10, poly[2] - poly[0])
    slope_down = (poly[5] - poly[7]) / np.maximum(10, poly[4] - poly[6])
    return bool(max(abs(slope_up), abs(slope_down)) < slope_ths)


def _row(poly: Sequence[int]) -> list[float]:
    """[x_min, x_max, y_min, y_max, y_centre, height] of an axis-aligned quad."""
    xs, ys = poly[0::2], poly[1::2]
    y_min, y_max = min(ys), max(ys)
    return [min(xs), max(xs), y_min, y_max, 0.5 * (y_min + y_max), y_max - y_min]


def _free_box(poly: Sequence[int], add_margin: float) -> FreeBox:
    """A rotated quad pushed outwards by a margin along its own diagonals."""
    height = np.linalg.norm([poly[6] - poly[0], poly[7] - poly[1]])
    width = np.linalg.norm([poly[2] - poly[0], poly[3] - poly[1]])
    margin = int(1.44 * add_margin * min(width, height))
    theta13 = abs(np.arctan((poly[1] - poly[5]) / np.maximum(10, poly[0] - poly[4])))
    theta24 = abs(np.arctan((poly[3] - poly[7]) / np.maximum(10, poly[2] - poly[6])))
    c13, s13 = np.cos(theta13) * margin, np.sin(theta13) * margin
    c24, s24 = np.cos(theta24) * margin, np.sin(theta24) * margin
    return [
        [poly[0] - c13, poly[1] - s13],
        [poly[2] + c24, poly[3] - s24],
        [poly[4] + c13, poly[5] + s13],
        [poly[6] - c24, poly[7] + s24],
    ]


def _lines(rows: list[list[float]], params: ReadParams) -> list[list[list[float]]]:
    """Consecutive rows (sorted by centre) whose centres stay close form one line."""
    lines: list[list[list[float]]] = []
    heights: list[float] = []
    centres: list[float] = []
    for row in rows:
        if lines and abs(np.mean(centres) - row[4]) < params.ycenter_ths * np.mean(heights):
            lines[-1].append(row)
            heights.append(row[5])
            centres.append(row[4])
        else:
            lines.append([row])
            heights, centres = [row[5]], [row[4]]
    return lines or [[]]


def _merge_line(line: list[list[float]], params: ReadParams) -> list[HorizontalBox]:
    """Merge neighbouring boxes of one line (left to right); each result gets a margin."""
    groups: list[list[list[float]]] = []
    heights: list[float] = []
    x_max = 0.0
    for box in sorted(line, key=lambda item: item[0]):
        if groups and _joins(box, heights, x_max, params):
            groups[-1].append(box)
            heights.append(box[5])
        else:
            groups.append([box])
            heights = [box[5]]
        x_max = box[1]
    return [_enclose(group, params.add_margin) for group in groups]


def _joins(box: list[float], heights: list[float], x_max: float, params: ReadParams) -> bool:
    """A box joins the group on its left when of similar height and a small gap away."""
    mean_height = np.mean(heights)
    similar = abs(mean_height - box[5]) < params.height_ths * mean_height
    return bool(similar and (box[0] - x_max) < params.width_ths * (box[3] - box[2]))


def _enclose(group: list[list[float]], add_margin: float) -> HorizontalBox:
    x_min = min(box[0] for box in group)
    x_max = max(box[1] for box in group)
    y_min = min(box[2] for box in group)
    y_max = max(box[3] for box in group)
    margin = int(add_margin * min(x_max - x_min, y_max - y_min))
    return _grow([x_min, x_max, y_min, y_max], margin)


def _grow(box: Sequence[float], margin: int) -> HorizontalBox:
    return [int(box[0] - margin), int(box[1] + margin), int(box[2] - margin), int(box[3] + margin)]
