"""The `rules test` input notation (promtool's) and series syntax."""

from __future__ import annotations

import pytest

from driftmon.errors import RuleError
from driftmon.rules.ruletest import expand_values, parse_series


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 2 _ 3", [1.0, 2.0, None, 3.0]),
        ("0.5x2", [0.5, 0.5, 0.5]),
        ("1+1x3", [1.0, 2.0, 3.0, 4.0]),
        ("10-2x2", [10.0, 8.0, 6.0]),
        ("_x3 1", [None, None, None, 1.0]),
        ("1e-3x1", [0.001, 0.001]),
    ],
)
def test_expand_values(text: str, expected: list[float | None]) -> None:
    """a+bxN and axN give N+1 values, _xN gives N gaps, as in promtool."""
    assert expand_values(text) == pytest.approx(expected)


def test_bad_value_is_named() -> None:
    """An item that is no number nor notation raises naming it."""
    with pytest.raises(RuleError, match="bad value 'zz'"):
        expand_values("1 zz")


def test_parse_series() -> None:
    """A series is a signal with label matchers; fidelity means text_fidelity."""
    assert parse_series('fidelity{model_version="v1", source="push"}') == (
        "text_fidelity",
        {"model_version": "v1", "source": "push"},
    )
    with pytest.raises(RuleError, match="column"):
        parse_series("fidelity{model_version=v1}")
    with pytest.raises(RuleError, match="write signal"):
        parse_series('fidelity{model_version!="v1"}')
