"""Annotation templates: Go-template syntax for labels and values, with number formatting."""

from __future__ import annotations

import pytest

from driftmon.errors import TemplateError
from driftmon.rules.templates import go_value, parse_template


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("{{ $labels.model_version }}", 0.5, "v2"),
        ("{{ $labels.missing }}", 0.5, ""),
        ("{{ $value }}", 0.6312, "0.6312"),
        ("{{ $value }}", 2.0, "2"),
        ('{{ $value | printf "%.2f" }}', 0.6312, "0.63"),
        ('{{ printf "%.1f%%" $value }}', 12.34, "12.3%"),
        ("{{ $value | humanizePercentage }}", 0.6312, "63.12%"),
        ("{{ $value | humanize }}", 1234567.0, "1.235M"),
        ("{{ $value | humanizeDuration }}", 3725.0, "1h 2m 5s"),
        ("{{ $labels.model_version | toUpper }}", 0.0, "V2"),
        ('fidelity {{ $value | printf "%.2f" }} on {{ $labels.model_version }}', 0.5, "fidelity 0.50 on v2"),
    ],
)
def test_render(text: str, value: float, expected: str) -> None:
    """Each construct renders as Prometheus's template engine would."""
    assert parse_template(text).render({"model_version": "v2"}, value) == expected


@pytest.mark.parametrize(
    ("text", "pos", "message"),
    [
        ("x {{ $valu }}", 5, "unknown variable $valu"),
        ("x {{ $value | prinf }}", 14, "unknown function prinf"),
        ("x {{ $value ", 2, "unclosed '{{'"),
        ("{{ $value | }}", 11, "empty command"),
    ],
)
def test_errors_have_positions(text: str, pos: int, message: str) -> None:
    """A bad template raises with the offset of its problem."""
    with pytest.raises(TemplateError) as info:
        parse_template(text)
    assert info.value.pos == pos and message in info.value.message


def test_missing_value_renders_nan_and_go_float_format() -> None:
    """No value renders as NaN; large and tiny floats use Go's shortest form."""
    assert parse_template("{{ $value }}").render({}, None) == "NaN"
    assert go_value(1e-05) == "1e-05" and go_value(float("inf")) == "+Inf"
