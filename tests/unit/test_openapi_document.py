"""The OpenAPI document (D8) and the listing's contract (W9): every route described with its
parameters, bodies and responses; `limit` out of range is a 400 naming the bound; the sample
listing pages with an opaque cursor in a Link header (rel="next")."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from driftmon.api.cursor import decode_cursor, encode_cursor
from driftmon.api.server import AppState, make_app
from driftmon.samples import SampleMeta, ScoredSample
from driftmon.store import Store
from tests.journaled import journal_intake, no_scorer_state


@pytest.fixture
def state(tmp_path: Path) -> AppState:
    registry = CollectorRegistry()
    intake = journal_intake(tmp_path, registry, max_entries=2)
    return AppState(intake, Store(tmp_path / "db.sqlite"), registry, scorer_state=no_scorer_state())


def call(state: AppState, url: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=make_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="http://driftmon") as client:
            return await client.get(url)

    return asyncio.run(go())


def scored(index: int, received_at: float, version: str = "v1") -> ScoredSample:
    return ScoredSample(
        id=f"s{index:03d}", source="push", received_at=received_at, scored_at=received_at + 1,
        meta=SampleMeta(model_version=version), scores={"text_fidelity": 1.0}, ocr_text="",
        expected_text="", evidence={}, failing=False,
    )


def test_every_served_route_is_described(state: AppState) -> None:
    """Each route of the app (but /openapi.json itself) has an operation with responses."""
    app = make_app(state)
    document = call(state, "/openapi.json").json()
    served = {route.path for route in app.routes if route.path != "/openapi.json"}
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == served
    for methods in document["paths"].values():
        for operation in methods.values():
            assert operation["responses"] and operation["operationId"]


def test_parameters_bodies_and_headers_are_declared(state: AppState) -> None:
    """D8: sample_id declared, both request bodies, the query parameters, Retry-After, Link, and a
    well-formed /v1/compare 200 (a schema per content type)."""
    paths = call(state, "/openapi.json").json()["paths"]
    assert paths["/v1/samples/{sample_id}"]["get"]["parameters"][0]["name"] == "sample_id"
    body = paths["/v1/samples"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
    assert "image_b64" in body["application/json"]["schema"]["required"]
    assert "seed" in body["application/json"]["schema"]["properties"]
    listing = paths["/v1/samples/recent"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"limit", "model_version", "cursor"}
    assert "Link" in listing["responses"]["200"]["headers"]
    for status in ("429", "503"):
        assert paths["/v1/samples"]["post"]["responses"][status]["headers"]["Retry-After"]["required"]
    compare = paths["/v1/compare"]["get"]
    assert {p["name"] for p in compare["parameters"]} == {"a", "b", "limit", "format"}
    content = compare["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Comparison"}
    assert "text/html" in content
    assert "image/png" in paths["/v1/samples/{sample_id}/overlay.png"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]


def test_every_reference_resolves(state: AppState) -> None:
    document = call(state, "/openapi.json").json()
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', str(document).replace("'", '"')))
    assert refs and refs <= set(document["components"]["schemas"])


@pytest.mark.parametrize(
    ("url", "bound"),
    [
        ("/v1/samples/recent?limit=0", "from 1 to 500"),
        ("/v1/samples/recent?limit=501", "from 1 to 500"),
        ("/v1/samples/recent?limit=x", "from 1 to 500"),
        ("/v1/compare?a=v1&b=v2&limit=0", "from 1 to 1000"),
        ("/v1/compare?a=v1&b=v2&limit=1001", "from 1 to 1000"),
    ],
)
def test_limit_out_of_range_is_400_naming_the_bound(state: AppState, url: str, bound: str) -> None:
    """W9: no silent clamping."""
    response = call(state, url)
    assert response.status_code == 400
    assert bound in response.json()["error"]


def test_limits_at_the_bounds_are_served(state: AppState) -> None:
    assert call(state, "/v1/samples/recent?limit=1").status_code == 200
    assert call(state, "/v1/samples/recent?limit=500").status_code == 200
    assert call(state, "/v1/compare?a=v1&b=v2&limit=1000&format=json").status_code == 200


def test_listing_pages_with_a_cursor_each_sample_once(state: AppState) -> None:
    """Pages of 2 over 5 samples (two share a timestamp) give each once, newest first; the last
    page has no Link; a model_version filter is kept in the next link."""
    for index, ts in enumerate([10.0, 20.0, 20.0, 30.0, 40.0]):
        state.store.add(scored(index, ts))
    state.store.add(scored(99, 25.0, version="v2"))
    url, seen, pages = "/v1/samples/recent?limit=2&model_version=v1", [], 0
    while url:
        response = call(state, url)
        assert response.status_code == 200
        seen += [sample["id"] for sample in response.json()]
        pages += 1
        link = response.headers.get("link")
        url = re.fullmatch(r'<http://driftmon([^>]+)>; rel="next"', link).group(1) if link else ""
        assert not url or "model_version=v1" in url
    assert seen == ["s004", "s003", "s002", "s001", "s000"]
    assert pages == 3


def test_a_cursor_round_trips_and_garbage_is_400(state: AppState) -> None:
    assert decode_cursor(encode_cursor(12.5, "abc")) == (12.5, "abc")
    for token in ("@@", "bm90IGpzb24", encode_cursor(1.0, "x")[:-3], "WzEsMiwzXQ", "WyJhIiwiYiJd"):
        response = call(state, f"/v1/samples/recent?cursor={token}")
        assert response.status_code == 400 and "cursor" in response.json()["error"]
