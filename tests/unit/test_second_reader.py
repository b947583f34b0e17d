"""The second reader: when it reads (on_fail, always, off), the better reading wins (a sample fails
only when both readers fail it), both readings kept as evidence, disagreements counted, the
reader's character set deciding accent folding, and the engine built only when first needed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from driftmon import __version__
from driftmon.config import ScoringConfig
from driftmon.metrics import Metrics
from driftmon.scoring import factory
from driftmon.scoring.scorer import Scorer, SecondReader
from driftmon.scoring.types import Detection
from driftmon.signals import READER_DISAGREEMENT, READER_SCORES


def image(key: int) -> np.ndarray:
    """A tiny image a fake reader recognises by its grey level."""
    return np.full((8, 8, 3), key, np.uint8)


class FakeReader:
    """Reads the text `texts[grey level]` as one detection; counts the images it read."""

    device = "cpu"

    def __init__(self, name: str, texts: Mapping[int, str], charset: frozenset[str] | None = None) -> None:
        self.name = name
        self.texts = texts
        self.charset = charset
        self.read_count = 0

    def read(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        self.read_count += len(images)
        box = ((0.0, 0.0), (100.0, 0.0), (100.0, 20.0), (0.0, 20.0))
        return [
            [Detection(box, self.texts[int(im[0, 0, 0])], 0.9)] if self.texts.get(int(im[0, 0, 0])) else []
            for im in images
        ]


def scorer(
    first: FakeReader, second: FakeReader | None, mode: str = "on_fail", **kwargs: object
) -> tuple[Scorer, list[int]]:
    """A Scorer over two fakes; the list counts how often the second engine was built."""
    built: list[int] = []

    def load() -> FakeReader:
        built.append(1)
        assert second is not None
        return second

    reader = None if second is None or mode == "off" else SecondReader(mode, load)  # type: ignore[arg-type]
    return Scorer(first, second=reader, **kwargs), built  # type: ignore[arg-type]


def test_on_fail_rereads_only_failing_images_and_the_better_reading_wins() -> None:
    """Image 1 reads right first (not re-read); image 2 misread first is re-read right: it passes,
    RapidOCR's reading won, both readings are in the evidence, the readers disagree."""
    first = FakeReader("batched", {1: "OPEN 24 HOURS", 2: "500 _ OFFU"})
    second = FakeReader("rapidocr", {1: "OPEN 24 HOURS", 2: "50% OFF!"})
    s, built = scorer(first, second)
    ok, fixed = s.score_batch([image(1), image(2)], [["OPEN 24 HOURS"], ["50% OFF!"]])
    assert second.read_count == 1 and built == [1]
    assert ok.scores["text_fidelity"] == 1.0 and ok.scores[READER_DISAGREEMENT] is None
    assert "readers" not in ok.evidence
    assert fixed.scores["text_fidelity"] == 1.0 and fixed.text.ocr_text == "50% OFF!"
    assert fixed.detections[0].text == "50% OFF!"
    assert fixed.scores[READER_DISAGREEMENT] == 1.0
    readers = fixed.evidence["readers"]
    assert readers["winner"] == "rapidocr"
    first_reading, second_reading = readers["readings"]
    assert first_reading["reader"] == "easyocr" and first_reading["ocr_text"] == "500 _ OFFU"
    assert first_reading["failing"] is True and first_reading["detections"][0]["text"] == "500 _ OFFU"
    assert second_reading == {
        "reader": "rapidocr", "ocr_text": "50% OFF!", "fidelity": 1.0, "failing": False,
        "accents_folded": False, "reading": "rows",
    }


def test_a_sample_fails_only_when_both_readers_fail_it() -> None:
    """A real typo read the same by both readers stays failing; the readers agree (0)."""
    first = FakeReader("batched", {1: "OPNE 42 HUORS"})
    second = FakeReader("rapidocr", {1: "OPNE 42 HUORS"})
    s, _ = scorer(first, second)
    (result,) = s.score_batch([image(1)], [["OPEN 24 HOURS"]])
    fidelity = result.scores["text_fidelity"]
    assert fidelity is not None and fidelity < 0.85
    assert result.scores[READER_DISAGREEMENT] == 0.0
    assert result.evidence["readers"]["winner"] == "easyocr"  # a tie keeps the first


def test_the_worse_second_reading_never_lowers_the_score() -> None:
    """With `always`, a second reading worse than the first leaves the first's score."""
    first = FakeReader("batched", {1: "OPEN 24 HOURS"})
    second = FakeReader("rapidocr", {1: "OPEN"})
    s, built = scorer(first, second, "always")
    (result,) = s.score_batch([image(1)], [["OPEN 24 HOURS"]])
    assert second.read_count == 1 and built == [1]
    assert result.scores["text_fidelity"] == 1.0
    assert result.scores[READER_DISAGREEMENT] == 1.0  # passing first, failing second
    assert result.evidence["readers"]["winner"] == "easyocr"


def test_on_fail_builds_nothing_while_every_image_passes() -> None:
    """Steady state with on_fail: the second engine is never built, never reads."""
    first = FakeReader("batched", {1: "OPEN"})
    second = FakeReader("rapidocr", {1: "OPEN"})
    s, built = scorer(first, second)
    for _ in range(3):
        s.score_batch([image(1)] * 4, [["OPEN"]] * 4)
    assert built == [] and second.read_count == 0


def test_images_without_expected_text_are_never_reread() -> None:
    """Nothing expected: fidelity is None, no second reading even with always."""
    first = FakeReader("batched", {1: "NOISE"})
    second = FakeReader("rapidocr", {1: ""})
    s, built = scorer(first, second, "always")
    (result,) = s.score_batch([image(1)], [[]])
    assert built == [] and second.read_count == 0 and result.scores[READER_DISAGREEMENT] is None


def test_off_reads_once_and_adds_no_reader_score() -> None:
    """off: one reader, the scores are the text scores only, the version names one reader."""
    first = FakeReader("batched", {1: "OPNE"})
    s, _ = scorer(first, None, "off")
    (result,) = s.score_batch([image(1)], [["OPEN"]])
    assert not set(READER_SCORES) & set(result.scores)
    assert result.scorer_version == f"{__version__}/easyocr" == result.evidence["scorer_version"]


def test_each_reader_folds_accents_by_its_own_character_set() -> None:
    """EasyOCR's set has no é: its 'Cafe' is compared folded (1.0); RapidOCR has é: 'Cafe' would
    cost a letter, 'Café' scores 1.0 unfolded."""
    plain = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ")
    first = FakeReader("batched", {1: "Cafe"}, charset=plain)
    s, _ = scorer(first, None, "off")
    (result,) = s.score_batch([image(1)], [["Café"]])
    assert result.scores["text_fidelity"] == 1.0 and result.evidence["accents_folded"] is True
    strict, _ = scorer(first, None, "off", fold_accents="never")
    (unfolded,) = strict.score_batch([image(1)], [["Café"]])
    assert unfolded.scores["text_fidelity"] == 0.75 and unfolded.evidence["accents_folded"] is False


def test_scorer_version_names_driftmon_and_the_reader_mode() -> None:
    """The version stored with each sample: driftmon's version + readers + mode."""
    assert factory.scorer_version("on_fail") == f"{__version__}/easyocr+rapidocr:on_fail"
    assert factory.scorer_version("always") == f"{__version__}/easyocr+rapidocr:always"
    assert factory.configured_version(ScoringConfig()) == f"{__version__}/easyocr+rapidocr:on_fail"
    first = FakeReader("batched", {1: "OPEN"})
    s, _ = scorer(first, FakeReader("rapidocr", {}), "on_fail")
    assert s.score(image(1), ["OPEN"]).scorer_version == factory.scorer_version("on_fail")


def test_config_defaults_and_choices() -> None:
    """second_reader defaults to on_fail, fold_accents to auto; other values are refused."""
    config = ScoringConfig()
    assert (config.second_reader, config.fold_accents) == ("on_fail", "auto")
    with pytest.raises(ValueError, match="second_reader"):
        ScoringConfig(second_reader="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fold_accents"):
        ScoringConfig(fold_accents="maybe")  # type: ignore[arg-type]


def test_disagreements_feed_their_counter() -> None:
    """driftmon_reader_disagreements_total counts the samples whose readers' verdicts differ."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    for value in (1.0, 0.0, None, 1.0):
        metrics.observe_scores("push", "v1", {READER_DISAGREEMENT: value}, None)
    labels = {"source": "push", "model_version": "v1"}
    assert registry.get_sample_value("driftmon_reader_disagreements_total", labels) == 2.0


def test_second_reader_off_builds_nothing() -> None:
    """The factory's second reader: None when off (no RapidOCR import needed)."""
    assert factory.second_reader("off") is None
