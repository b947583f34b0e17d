"""Composition checks, each a small class behind the `Check` protocol (base.py); the composition
scorer (driftmon.scoring.composition) builds the enabled ones and runs them in order. A new score
is one module here and one entry in driftmon.signals."""

from driftmon.scoring.checks.alignment import AlignmentCheck, Embedder
from driftmon.scoring.checks.base import Batch, Check, Finding
from driftmon.scoring.checks.counts import CountsCheck
from driftmon.scoring.checks.legibility import LegibilityCheck, LegibilityThresholds
from driftmon.scoring.checks.margins import MarginsCheck
from driftmon.scoring.checks.sanity import SanityCheck

__all__ = [
    "AlignmentCheck",
    "Batch",
    "Check",
    "CountsCheck",
    "Embedder",
    "Finding",
    "LegibilityCheck",
    "LegibilityThresholds",
    "MarginsCheck",
    "SanityCheck",
]
