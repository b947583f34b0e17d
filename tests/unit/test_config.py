"""Configuration: defaults, YAML, environment overrides, and errors that name field and place."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftmon.config import env_overrides, load_config
from driftmon.durations import format_duration, parse_duration
from driftmon.errors import ConfigError


def test_defaults_need_no_file() -> None:
    """Without a file the embedded defaults load: push on, store under ./driftmon-data."""
    config = load_config(None, environ={})
    assert config.sources.push.enabled is True
    assert config.store.path == Path("driftmon-data/driftmon.db")
    assert config.store.retention == 7 * 86400


def test_environment_overrides_file(tmp_path: Path) -> None:
    """DRIFTMON_<SECTION>__<KEY> wins over the file, values parsed as YAML."""
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  port: 1000\nsources:\n  push:\n    sample_ratio: 0.5\n")
    config = load_config(path, environ={"DRIFTMON_SERVER__PORT": "2000"})
    assert config.server.port == 2000
    assert config.sources.push.sample_ratio == 0.5


def test_env_overrides_nest() -> None:
    """Nested keys split on double underscores; unrelated variables are ignored."""
    tree = env_overrides({"DRIFTMON_SOURCES__PUSH__SAMPLE_RATIO": "0.1", "HOME": "/root"})
    assert tree == {"sources": {"push": {"sample_ratio": 0.1}}}


def test_unknown_key_names_file_line_and_field(tmp_path: Path) -> None:
    """A misspelled key fails with file:line and the dotted field."""
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  port: 8000\nscoring:\n  devise: cpu\n")
    with pytest.raises(ConfigError, match=rf"{path}:4: scoring\.devise: Extra inputs"):
        load_config(path, environ={})


def test_bad_env_value_names_variable() -> None:
    """A bad environment value names the variable it came from."""
    with pytest.raises(ConfigError, match=r"DRIFTMON_SOURCES__PUSH__SAMPLE_RATIO: sources\.push"):
        load_config(None, environ={"DRIFTMON_SOURCES__PUSH__SAMPLE_RATIO": "2"})


def test_config_is_frozen() -> None:
    """The loaded configuration cannot be changed at run time."""
    config = load_config(None, environ={})
    with pytest.raises(ValueError, match="frozen"):
        config.server.port = 1  # type: ignore[misc]


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    """Broken YAML and a missing file are ConfigErrors naming the file."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("server: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(broken, environ={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", environ={})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("7d", 604800), ("250ms", 0.25), (12, 12)],
)
def test_durations(text: str | int, seconds: float) -> None:
    """Prometheus-style durations parse to seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "1h 30m", "-3"])
def test_bad_durations(text: str) -> None:
    """Anything else is a ValueError naming the text."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    """Formatted durations parse back to the same seconds."""
    for seconds in (45, 90, 3600, 5400, 86400 + 61):
        assert parse_duration(format_duration(seconds)) == seconds


def test_documented_example_config_is_valid() -> None:
    """docs/config.example.yaml loads (its secret files need not exist to validate)."""
    example = Path(__file__).resolve().parents[2] / "docs" / "config.example.yaml"
    config = load_config(example, environ={})
    assert config.alerting.receivers[0].kind == "alertmanager"
