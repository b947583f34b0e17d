"""Links in alerts: the placeholders rule annotations use, and GET /v1/samples/worst."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from driftmon.api.links import resolve, worst_failing
from driftmon.api.server import AppState
from tests.unit.test_server import _scored, call, state  # noqa: F401  (the fixture)


def test_placeholders_resolve_to_the_public_and_dashboard_urls() -> None:
    text = "${DRIFTMON_URL}/v1/samples/worst?model_version=v2 ${DASHBOARD_URL}?var-model_version=v2"
    assert resolve(text, "https://driftmon.example/", "https://grafana.example/d/x") == (
        "https://driftmon.example/v1/samples/worst?model_version=v2 "
        "https://grafana.example/d/x?var-model_version=v2"
    )


def _with_picture(sample_id: str, version: str, fidelity: float, tmp: Path):
    picture = tmp / f"{sample_id}.png"
    picture.write_bytes(b"png")
    return dataclasses.replace(_scored(sample_id, version, fidelity, 0.1), overlay_path=str(picture))


def test_worst_failing_is_the_lowest_fidelity_with_a_picture(tmp_path: Path) -> None:
    samples = [
        _with_picture("a", "v2", 0.7, tmp_path),
        _with_picture("b", "v2", 0.4, tmp_path),
        _scored("c", "v2", 0.1, 0.1),  # no picture kept
        _with_picture("d", "v2", 0.95, tmp_path),  # not failing
    ]
    worst = worst_failing(samples)
    assert worst is not None and worst.id == "b"
    assert worst_failing(samples[2:]) is None


def test_worst_redirects_to_the_overlay_or_says_why_not(state: AppState, tmp_path: Path) -> None:  # noqa: F811
    state.public_url = "https://driftmon.example"
    for sample in (_with_picture("a", "v2", 0.7, tmp_path), _with_picture("b", "v2", 0.4, tmp_path)):
        state.store.add(sample)
    state.store.add(_scored("c", "v1", 0.95, 0.1))
    found = call(state, "GET", "/v1/samples/worst", params={"model_version": "v2"})
    assert found.status_code == 307
    assert found.headers["location"] == "https://driftmon.example/v1/samples/b/overlay.png"
    missing = call(state, "GET", "/v1/samples/worst", params={"model_version": "v1"})
    assert missing.status_code == 404
    assert "no failing sample of model version v1" in missing.json()["error"]
