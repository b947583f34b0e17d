"""Test helpers shared across the suites: the fake clock, the rule-file builder and (in
`tests.support.nvml`) the NVML fake answering from a recorded H200."""

from __future__ import annotations

import textwrap
from pathlib import Path

__all__ = ["FakeClock", "write_rules"]


class FakeClock:
    """A clock that moves only when told: call it for `now`; set `now` or `advance` it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward; returns the new now."""
        self.now += seconds
        return self.now


def write_rules(directory: Path, body: str, name: str = "r.yaml") -> Path:
    """Write the dedented rule file `body` (leading blank lines dropped) as `name`; its path."""
    path = directory / name
    path.write_text(textwrap.dedent(body).lstrip("\n"))
    return path
