"""The one place a Scorer is built from ``scoring`` configuration: the daemon, ``driftmon score``
and ``driftmon gate`` all call `build_scorer`, so they read with the same readers in the same
mode by default.

Light to import: the OCR engines, RapidOCR and the composition models are imported inside
`build_scorer`, which runs where the models should live (the scoring thread or process).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from driftmon import __version__

if TYPE_CHECKING:
    from driftmon.config import ScoringConfig
    from driftmon.scoring.scorer import Scorer, SecondReader
    from driftmon.scoring.types import OcrEngine

__all__ = ["build_scorer", "configured_version", "scorer_version", "second_reader"]

SecondReaderMode = Literal["on_fail", "always", "off"]
#: `scoring.second_reader`'s default (driftmon/config.py), also `driftmon score --second-reader`'s
DEFAULT_SECOND_READER: SecondReaderMode = "on_fail"
FIRST_READER = "easyocr"
SECOND_READER = "rapidocr"


def scorer_version(mode: SecondReaderMode) -> str:
    """What makes stored scores comparable: driftmon's version and the readers, e.g.
    ``0.2.0/easyocr+rapidocr:on_fail`` (``0.2.0/easyocr`` with one reader)."""
    readers = FIRST_READER if mode == "off" else f"{FIRST_READER}+{SECOND_READER}:{mode}"
    return f"{__version__}/{readers}"


def configured_version(scoring: ScoringConfig) -> str:
    """The `scorer_version` a scorer built from `scoring` stamps on its samples (no model loaded)."""
    return scorer_version(scoring.second_reader)


def second_reader(mode: SecondReaderMode, threads: int | None = None) -> SecondReader | None:
    """RapidOCR as the second reader for `mode` (None when off).

    Its wheel's model files are checked now, so a broken install fails at start; the engine is
    built on first use with ``on_fail`` and now with ``always``.
    """
    if mode == "off":
        return None
    from driftmon.scoring.rapid import RapidOcrReader, offline_params, wheel_model_dir
    from driftmon.scoring.scorer import SecondReader

    offline_params(wheel_model_dir(), threads)  # ModelUnavailable naming a missing file

    def load() -> OcrEngine:
        return RapidOcrReader(threads=threads)

    reader = SecondReader(mode, load)
    if mode == "always":
        _ = reader.engine
    return reader


def build_scorer(
    scoring: ScoringConfig,
    *,
    on_stage: Callable[[str, float], None] | None = None,
    on_engine: Callable[[Any], None] | None = None,
    composition: bool = True,
) -> Scorer:
    """A Scorer for `scoring`: the first reader (EasyOCR, `scoring.engine` on `scoring.device`),
    the second reader in `scoring.second_reader` mode, and the composition checks.

    `on_stage(stage, seconds)` receives stage durations; `on_engine(ocr)` sees the first reader
    once built (the daemon exports its metrics); `composition=False` leaves the checks out.
    """
    from driftmon.scoring.composition import CompositionScorer
    from driftmon.scoring.ocr import make_ocr_engine
    from driftmon.scoring.scorer import Scorer
    from driftmon.tokens.live import prompt_checks

    ocr = make_ocr_engine(
        scoring.engine, model_dir=scoring.model_dir, device=scoring.device, work_dir=scoring.work_dir
    )
    if hasattr(ocr, "max_batch"):
        ocr.max_batch = scoring.batch_size
    if on_engine is not None:
        on_engine(ocr)
    checks = CompositionScorer(scoring.composition, device=ocr.device) if composition else None
    if checks is not None:  # the token contract: prompt_truncated (driftmon/tokens/live.py)
        checks.checks.extend(prompt_checks(scoring.tokenizer_dir))
    return Scorer(
        ocr,
        scoring.case_sensitive,
        checks,
        on_stage,
        second=second_reader(scoring.second_reader, scoring.cpu_threads),
        failing_below=scoring.failing_below,
        fold_accents=scoring.fold_accents,
        max_side=scoring.max_side,
    )
