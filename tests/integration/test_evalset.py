"""The frozen evaluation set: its figures for the best of two readers, and real reads that match.

The full-set figures are computed from `bench/evalset/recorded_scores.json` (written by
`python -m bench.evalset.evaluate --record`); the slow test reads a few held-out images with the
real readers and checks the recording still holds for them.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from bench.evalset.evaluate import (
    BEST,
    DATA,
    READERS,
    RECORDED,
    figures,
    load_manifest,
    make_reader,
    score_row,
    with_best_of_two,
)

ROWS = load_manifest()
HELD_OUT = [row for row in ROWS if row["split"] == "held-out"]


def recorded() -> dict[str, dict[str, dict[str, object]]]:
    return with_best_of_two(json.loads(RECORDED.read_text(encoding="utf-8")))


def test_set_is_frozen() -> None:
    """Every image is the one the manifest was written with (no silent regeneration)."""
    for row in ROWS:
        assert hashlib.sha256((DATA / row["path"]).read_bytes()).hexdigest() == row["sha256"], row["path"]


def test_split_is_fixed_and_balanced() -> None:
    """Within each kind, even positions tune and odd ones are held out: 15/10/5 of 30/20/10."""
    assert Counter((r["kind"], r["split"]) for r in ROWS) == {
        ("correct", "tuning"): 15,
        ("correct", "held-out"): 15,
        ("wrong", "tuning"): 10,
        ("wrong", "held-out"): 10,
        ("edge", "tuning"): 5,
        ("edge", "held-out"): 5,
    }
    assert all(row["truth"] < 0.85 for row in ROWS if row["kind"] == "wrong")


def test_recording_covers_every_image_for_both_readers() -> None:
    scores = recorded()
    for name in READERS:
        assert set(scores[name]) == {row["path"] for row in ROWS}


def test_best_of_two_on_the_held_out_half() -> None:
    """No false alarm on correct renders, every wrong render fails, MAE and edge cases in target."""
    result = figures(HELD_OUT, recorded()[BEST])
    assert result.false_alarms == 0
    assert result.wrong_right == result.wrong == 10
    assert result.mae <= 0.03
    assert result.edge_right >= 4


@pytest.mark.slow
@pytest.mark.parametrize("name", READERS)
def test_real_reads_match_the_recording(name: str) -> None:
    """A correct, a wrong and an edge held-out image read now score as recorded."""
    reader = make_reader(name)
    scores = recorded()[name]
    sample = [next(row for row in HELD_OUT if row["kind"] == kind) for kind in ("correct", "wrong", "edge")]
    for row in sample:
        got = score_row(reader, row)
        assert got["fidelity"] == pytest.approx(scores[row["path"]]["fidelity"], abs=0.02), row["path"]
