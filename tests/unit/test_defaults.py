"""The embedded defaults are the repository's shipped rules and probe set, byte for byte."""

from __future__ import annotations

from pathlib import Path

from driftmon.config import load_config
from driftmon.defaults import PROBES_FILE, RULES_DIR

REPO = Path(__file__).resolve().parents[2]


def test_packaged_rules_match_repository() -> None:
    """driftmon/defaults/rules holds exactly rules/*.yaml minus tests and probes (sync-defaults.sh)."""
    shipped = {
        p.name: p.read_bytes()
        for p in (REPO / "rules").glob("*.yaml")
        if not p.name.endswith(".test.yaml") and p.name not in ("probes.yaml", "gate.yaml")
    }
    packaged = {p.name: p.read_bytes() for p in RULES_DIR.glob("*.yaml")}
    assert packaged == shipped, "run scripts/sync-defaults.sh"


def test_packaged_probes_match_repository() -> None:
    """driftmon/defaults/probes.yaml is rules/probes.yaml."""
    assert PROBES_FILE.read_bytes() == (REPO / "rules" / "probes.yaml").read_bytes()


def test_default_config_points_at_packaged_files() -> None:
    """Without a configuration the daemon reads the packaged rules and probes from anywhere."""
    config = load_config(None, environ={})
    assert config.rules.paths == [RULES_DIR]
    assert config.sources.probe.prompts == PROBES_FILE
