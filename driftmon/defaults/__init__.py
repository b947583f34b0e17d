"""Embedded defaults: copies of the repository's `rules/driftmon.yaml` and `rules/probes.yaml`.

`driftmon run` without a configuration uses these, so it works from any directory and from an
installed wheel. `scripts/sync-defaults.sh` refreshes them; a test keeps them identical.
"""

from __future__ import annotations

from pathlib import Path

DEFAULTS_DIR = Path(__file__).resolve().parent
RULES_DIR = DEFAULTS_DIR / "rules"
PROBES_FILE = DEFAULTS_DIR / "probes.yaml"
#: `driftmon gate`'s default rules: a copy of rules/gate.yaml
GATE_FILE = DEFAULTS_DIR / "gate.yaml"

__all__ = ["DEFAULTS_DIR", "GATE_FILE", "PROBES_FILE", "RULES_DIR"]
