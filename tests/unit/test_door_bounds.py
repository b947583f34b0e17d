"""Every input bounded at the door (issue table rows D1–D4, W2, W7): each of these was a 202
(or a 500) before; now a 4xx naming what was wrong, and nothing unservable enters the store."""

from __future__ import annotations

import base64
import json
import math

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftmon.errors import Rejected
from driftmon.samples import SampleMeta
from driftmon.sources.bounds import MAX_DEPTH, check_json_depth, check_meta
from tests.imaging import header_only_png, truncated_jpeg
from tests.journaled import taken_in
from tests.unit.test_server import PNG, call, post_json
from tests.unit.test_server import state as state


def post_raw(state, body: bytes) -> httpx.Response:
    return call(state, "POST", "/v1/samples", content=body, headers={"content-type": "application/json"})


def body_with(meta_json: str) -> bytes:
    image = base64.b64encode(PNG).decode()
    return ('{"image_b64": "' + image + '", ' + meta_json + "}").encode()


@pytest.mark.parametrize("field", ["seed", "steps"])
def test_d1_integers_past_int64_are_422(state, field: str) -> None:
    response = post_json(state, **{field: 2**63})
    assert response.status_code == 422 and field in response.json()["error"]
    assert post_json(state, **{field: 2**63 - 1}).status_code == 202


@pytest.mark.parametrize("number", ["1e999", "-1e999"])
def test_d2_an_infinite_latency_is_422(state, number: str) -> None:
    response = post_raw(state, body_with(f'"latency_seconds": {number}'))
    assert response.status_code == 422 and "latency_seconds" in response.json()["error"]
    assert state.intake.journal.depth() == 0


def test_d3_a_png_without_pixel_data_is_422(state) -> None:
    response = post_json(state, image=header_only_png())
    assert response.status_code == 422 and "no pixel data" in response.json()["error"]


def test_d4_json_nested_2000_deep_is_400_in_the_body_and_in_the_meta(state) -> None:
    deep = "[" * 2000 + "]" * 2000
    assert post_raw(state, body_with(f'"labels": {deep}')).status_code == 400
    response = call(
        state, "POST", "/v1/samples", files={"image": ("x.png", PNG, "image/png")}, data={"meta": deep}
    )
    assert response.status_code == 400 and "deeper than 32" in response.json()["error"]


def test_w2_labels_are_bounded(state) -> None:
    """16 keys × 1.2 KB values: refused (a value is at most 1 KiB); 17 labels: refused."""
    big = {f"k{i}": "v" * 1200 for i in range(16)}
    assert post_json(state, labels=big).status_code == 422
    assert post_json(state, labels={"k" * 65: "v"}).status_code == 422
    assert post_json(state, labels={f"k{i}": "v" for i in range(17)}).status_code == 422
    assert post_json(state, labels={"k" * 64: "v" * 1024}).status_code == 202


def test_w7_a_truncated_jpeg_is_422_at_the_door(state) -> None:
    response = post_json(state, image=truncated_jpeg())
    assert response.status_code == 422 and "truncated JPEG" in response.json()["error"]
    assert state.intake.journal.depth() == 0


def test_w7_multipart_meta_that_is_not_utf8_is_400_and_utf8_passes(state) -> None:
    bad = b'{"prompt": "caf\xe9"}'
    response = call(
        state, "POST", "/v1/samples",
        files={"image": ("x.png", PNG, "image/png"), "meta": (None, bad)},
    )
    assert response.status_code == 400 and "UTF-8" in response.json()["error"]
    good = json.dumps({"prompt": "café ☕"}, ensure_ascii=False).encode()
    response = call(
        state, "POST", "/v1/samples",
        files={"image": ("x.png", PNG, "image/png"), "meta": (None, good)},
    )
    assert response.status_code == 202, response.text
    assert taken_in(state.intake.journal)[0].meta.prompt == "café ☕"


def test_depth_scan_ignores_brackets_in_strings() -> None:
    check_json_depth('{"a": "' + "[" * 100 + '\\"[["}')
    check_json_depth("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    with pytest.raises(Rejected):
        check_json_depth("[" * (MAX_DEPTH + 1))




@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.one_of(st.none(), st.integers(-(2**70), 2**70)),
    steps=st.one_of(st.none(), st.integers(-(2**70), 2**70)),
    latency=st.one_of(st.none(), st.floats()),
    prompt=st.one_of(st.none(), st.text(max_size=200)),
    labels=st.dictionaries(st.text(max_size=80), st.text(max_size=1100), max_size=20),
)
def test_whatever_check_meta_lets_in_is_storable_and_servable(
    seed: int | None, steps: int | None, latency: float | None, prompt: str | None, labels: dict[str, str]
) -> None:
    """Property: a meta passes only if it encodes as strict JSON and UTF-8 with int64 integers."""
    meta = SampleMeta(prompt=prompt, seed=seed, steps=steps, latency_seconds=latency, labels=labels)
    try:
        check_meta(meta)
    except Rejected:
        return
    fields = {"prompt": prompt, "seed": seed, "steps": steps, "latency": latency, "labels": labels}
    json.dumps(fields, allow_nan=False).encode("utf-8")
    assert all(v is None or -(2**63) <= v < 2**63 for v in (seed, steps))
    assert latency is None or math.isfinite(latency)
    assert len(labels) <= 16 and all(len(k) <= 64 for k in labels)


