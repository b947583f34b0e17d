"""The HTTP contract of POST /v1/samples and friends, in-process (nothing here reaches OCR)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from driftmon.api.server import AppState, make_app
from driftmon.pipeline import is_sampled
from driftmon.samples import SampleMeta, ScoredSample
from driftmon.store import Store
from driftmon.store.journal import meta_json
from tests.imaging import huge_png_header, png_bytes
from tests.journaled import journal_intake, no_scorer_state, taken_in

PNG = png_bytes(np.full((32, 32, 3), 200, np.uint8))


@pytest.fixture
def state(tmp_path: Path) -> AppState:
    """The routes over an intake journal of 2 entries; no scorer runs in these tests."""
    registry = CollectorRegistry()
    store = Store(tmp_path / "db.sqlite")
    intake = journal_intake(tmp_path, registry, max_entries=2)
    return AppState(intake, store, registry, max_body_bytes=200_000, scorer_state=no_scorer_state())


def call(state: AppState, method: str, url: str, **kwargs) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=make_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="http://driftmon") as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


def post_json(state: AppState, image: bytes = PNG, **meta) -> httpx.Response:
    return call(state, "POST", "/v1/samples", json={"image_b64": base64.b64encode(image).decode(), **meta})


def test_json_sample_accepted(state: AppState) -> None:
    """A JSON sample is answered 202 with an id and sampled=true, and journaled."""
    response = post_json(state, prompt='a sign "OPEN"', model_version="v1", latency_seconds=0.1)
    assert response.status_code == 202
    assert response.json()["sampled"] is True
    assert state.intake.journal.depth() == 1


def test_multipart_sample_accepted(state: AppState) -> None:
    """A multipart sample (file field image, JSON field meta) is accepted."""
    response = call(
        state,
        "POST",
        "/v1/samples",
        files={"image": ("x.png", PNG, "image/png")},
        data={"meta": json.dumps({"model_version": "v2", "labels": {"team": "a"}})},
    )
    assert response.status_code == 202, response.text
    assert taken_in(state.intake.journal)[0].meta.labels == {"team": "a"}


@pytest.mark.parametrize(
    ("kwargs", "status", "fragment"),
    [
        ({"content": b"x", "headers": {"content-type": "text/plain"}}, 415, "multipart/form-data"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        ({"json": {"prompt": "x"}}, 422, "image_b64"),
        ({"json": {"image_b64": "@@@"}}, 422, "not valid base64"),
        ({"json": {"image_b64": base64.b64encode(b"hello").decode()}}, 422, "not an image"),
        ({"json": {"image_b64": base64.b64encode(huge_png_header()).decode()}}, 413, "exceeds the limit"),
        ({"json": {"image_b64": base64.b64encode(PNG).decode(), "stepz": 3}}, 422, "stepz"),
        (
            {"json": {"image_b64": base64.b64encode(PNG).decode(), "latency_seconds": -1}},
            422,
            "latency_seconds",
        ),
        ({"content": b"0" * 300_000, "headers": {"content-type": "application/json"}}, 413, "limit"),
        ({"files": {"image": ("x.png", PNG)}, "data": {"meta": "{oops"}}, 400, "meta is not valid JSON"),
        ({"files": {"other": ("x.png", PNG)}}, 422, "image"),
    ],
)
def test_bad_requests_get_status_and_json_error(
    state: AppState, kwargs: dict, status: int, fragment: str
) -> None:
    """Each bad request gets its contract status and a JSON error; the daemon keeps serving."""
    response = call(state, "POST", "/v1/samples", **kwargs)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    assert call(state, "GET", "/healthz").status_code == 200


def test_queue_full_sheds_with_retry_after(state: AppState) -> None:
    """With the journal full, samples are shed with 429 and Retry-After, and counted."""
    assert post_json(state).status_code == 202
    assert post_json(state).status_code == 202
    response = post_json(state, model_version="v9")
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    value = state.registry.get_sample_value(
        "driftmon_samples_total", {"source": "push", "model_version": "v9", "outcome": "shed"}
    )
    assert value == 1.0


def test_unsampled_requests_are_counted_not_decoded(state: AppState) -> None:
    """With sample_ratio 0 a sample is answered sampled=false before its image is even decoded."""
    state.sample_ratio = 0.0
    response = post_json(state, image=b"not even an image", request_id="r1")
    assert response.status_code == 202
    assert response.json()["sampled"] is False
    assert state.intake.journal.depth() == 0


def test_bearer_token_guards_v1_routes(state: AppState) -> None:
    """With a token configured, /v1/* needs it; /healthz and /metrics stay open."""
    state.auth_token = "s3cret"
    assert post_json(state).status_code == 401
    ok = call(
        state,
        "POST",
        "/v1/samples",
        headers={"Authorization": "Bearer s3cret"},
        json={"image_b64": base64.b64encode(PNG).decode()},
    )
    assert ok.status_code == 202
    assert call(state, "GET", "/healthz").status_code == 200
    assert call(state, "GET", "/metrics").status_code == 200


def test_readyz_names_the_failing_check_and_never_waits_for_the_models(state: AppState) -> None:
    """/readyz answers 503 naming the check that fails (the intake cannot journal: no room); a
    scorer still loading its models is shown in the body and never makes it 503."""
    loading = call(state, "GET", "/readyz")
    assert loading.status_code == 200 and loading.json()["checks"] == {"intake": True}
    assert loading.json()["scorer"]["state"] == "starting"
    assert [post_json(state).status_code for _ in range(2)] == [202, 202]
    response = call(state, "GET", "/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["intake"] is False


def test_unknown_sample_is_404_json(state: AppState) -> None:
    """Unknown sample ids and routes answer JSON errors."""
    assert call(state, "GET", "/v1/samples/nope").json() == {"error": "no such sample"}
    assert call(state, "GET", "/v1/nothing").status_code == 404


def test_openapi_document_lists_contract_routes(state: AppState) -> None:
    """The OpenAPI document describes the contract routes."""
    paths = call(state, "GET", "/openapi.json").json()["paths"]
    assert {"/v1/samples", "/v1/samples/recent", "/metrics", "/healthz", "/readyz"} <= set(paths)


def test_sampling_is_stable_per_request_id() -> None:
    """The same request id is always sampled the same way; the share tracks the ratio."""
    ids = [f"req-{i}" for i in range(4000)]
    first = [is_sampled(i, 0.1, 0.5) for i in ids]
    assert first == [is_sampled(i, 0.1, 0.99) for i in ids]
    assert 0.08 < sum(first) / len(ids) < 0.12


def _scored(sample_id: str, version: str, fidelity: float, latency: float) -> ScoredSample:
    return ScoredSample(
        id=sample_id,
        source="push",
        received_at=1000.0,
        scored_at=1001.0,
        meta=SampleMeta(model_version=version, latency_seconds=latency),
        scores={"text_fidelity": fidelity},
        ocr_text="x",
        expected_text="x",
        evidence={},
        failing=fidelity < 0.85,
    )


def test_compare_two_versions_side_by_side(state: AppState) -> None:
    """/v1/compare reports both versions' means and latency and the difference b − a."""
    for i in range(4):
        state.store.add(_scored(f"a{i}", "v1", 0.9 + i * 0.02, 0.085))
        state.store.add(_scored(f"b{i}", "v2", 0.6 + i * 0.02, 0.32))
    body = call(state, "GET", "/v1/compare", params={"a": "v1", "b": "v2", "format": "json"}).json()
    assert body["a"]["samples"] == body["b"]["samples"] == 4
    assert body["delta_b_minus_a"]["text_fidelity"] == pytest.approx(-0.3)
    assert body["delta_b_minus_a"]["latency_p50_seconds"] == pytest.approx(0.235)
    page = call(state, "GET", "/v1/compare", params={"a": "v1", "b": "v2"})
    assert page.headers["content-type"].startswith("text/html")
    assert "v1 vs v2" in page.text
    assert call(state, "GET", "/v1/compare", params={"a": "v1"}).status_code == 400


def test_queue_sheds_by_bytes(tmp_path: Path) -> None:
    """The journal also sheds when its samples' bytes would pass queue_max_bytes."""
    registry = CollectorRegistry()
    entry_size = len(PNG) + len(meta_json(SampleMeta()).encode())
    intake = journal_intake(tmp_path, registry, max_bytes=entry_size * 2)
    state = AppState(intake, Store(tmp_path / "db.sqlite"), registry)
    assert [post_json(state).status_code for _ in range(3)] == [202, 202, 429]


def test_truncated_png_is_refused_at_intake(state: AppState) -> None:
    """Intake checks PNG structure without decoding: a truncated file gets 422, not a 202."""
    big = png_bytes((np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8))
    response = post_json(state, image=big[: len(big) // 2])
    assert response.status_code == 422
    assert "truncated" in response.json()["error"]
