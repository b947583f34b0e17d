"""`driftmon demo` shows the no-code path: production traffic reaches the generator through the tap."""

from __future__ import annotations

from pathlib import Path

from driftmon.demo.run import DemoPlan, demo_config


def test_demo_traffic_goes_through_the_tap(tmp_path: Path) -> None:
    plan = DemoPlan(port=19844, generator_port=19845, tap_port=19850)
    tap = demo_config(plan, tmp_path).sources.tap
    assert tap.enabled is True
    assert tap.listen == "127.0.0.1:19850"
    assert tap.upstream == "http://127.0.0.1:19845"
    assert tap.sample_ratio == 1.0
    assert tap.model_version_header == "X-Model-Version"  # v1 / v2 are the model versions
