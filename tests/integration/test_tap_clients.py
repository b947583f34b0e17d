"""The tap in front of the synthetic generator, driven by real clients (the openai SDK, webuiapi)
and raw HTTP: answers identical to direct ones (SHA-256 of every body), samples offered with
prompt, model version and latency; the faults fail open."""

from __future__ import annotations

import base64
import hashlib
import io
import socket
import time

import httpx
import openai
import pytest
import webuiapi
from PIL import Image

from driftmon.errors import Shed
from driftmon.sources.tap import TapConfig
from tests.integration.tap_servers import Recorder, tap_server, upstream_server, wait_for

pytestmark = pytest.mark.slow

PROMPT = 'a bakery window with a hand painted sign "FRESH BREAD"'


def sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@pytest.fixture(scope="module")
def upstream():
    with upstream_server() as (running, state):
        yield running, state


def tap_config(url: str, **changes) -> TapConfig:
    return TapConfig(enabled=True, upstream=url, sample_ratio=1.0, **changes)


@pytest.fixture
def tapped(upstream):
    running, _ = upstream
    recorder = Recorder()
    with tap_server(tap_config(running.url, model_version_header="X-Model-Version"), recorder) as tap:
        yield tap, recorder


def openai_client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="sk-test-secret", max_retries=0, timeout=30)


def test_openai_sdk_b64_json_same_objects_and_one_sample_per_image(upstream, tapped):
    running, _ = upstream
    tap, recorder = tapped
    kwargs = dict(model="dall-e-2", prompt=PROMPT, n=2, size="256x256", response_format="b64_json")
    direct = openai_client(running.url).images.generate(**kwargs)
    through = openai_client(tap.url).images.generate(**kwargs)
    assert through.model_dump() == direct.model_dump()
    wait_for(lambda: len(recorder.offers) == 2)
    images = {base64.b64decode(item.b64_json) for item in through.data}
    for offer in recorder.offers:
        assert offer.source == "tap"
        assert offer.meta.prompt == PROMPT
        assert offer.meta.model_version == "v1"  # the configured answer header before `model`
        assert offer.meta.latency_seconds is not None and offer.meta.latency_seconds > 0
        assert base64.b64decode(offer.image) in images


def test_openai_sdk_url_images_fetched_off_the_hot_path(upstream, tapped):
    running, _ = upstream
    tap, recorder = tapped
    kwargs = dict(model="dall-e-2", prompt=PROMPT, n=2, size="256x256", response_format="url")
    direct = openai_client(running.url).images.generate(**kwargs)
    through = openai_client(tap.url).images.generate(**kwargs)
    assert [httpx.get(i.url).content for i in through.data] == [httpx.get(i.url).content for i in direct.data]
    wait_for(lambda: len(recorder.offers) == 2)
    fetched = {httpx.get(item.url).content for item in through.data}
    assert {offer.image for offer in recorder.offers} == fetched
    assert all(offer.meta.prompt == PROMPT for offer in recorder.offers)


def test_openai_sdk_edits_multipart(upstream, tapped):
    running, _ = upstream
    tap, recorder = tapped
    png = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(png, format="PNG")
    kwargs = dict(
        image=("in.png", png.getvalue(), "image/png"), prompt=PROMPT, n=1, response_format="b64_json"
    )
    direct = openai_client(running.url).images.edit(**kwargs)
    through = openai_client(tap.url).images.edit(**kwargs)
    assert through.model_dump() == direct.model_dump()
    wait_for(lambda: len(recorder.offers) == 1)
    assert recorder.offers[0].meta.prompt == PROMPT


def test_webuiapi_txt2img_and_img2img(upstream, tapped):
    running, _ = upstream
    tap, recorder = tapped
    direct_api = webuiapi.WebUIApi(baseurl=f"{running.url}/sdapi/v1")
    tap_api = webuiapi.WebUIApi(baseurl=f"{tap.url}/sdapi/v1")
    kwargs = dict(
        prompt=PROMPT, seed=1234, steps=12, width=256, height=256, batch_size=2, sampler_name="DPM++ 2M"
    )
    direct, through = direct_api.txt2img(**kwargs), tap_api.txt2img(**kwargs)
    assert through.info == direct.info and through.parameters == direct.parameters
    assert [i.tobytes() for i in through.images] == [i.tobytes() for i in direct.images]
    wait_for(lambda: len(recorder.offers) == 2)
    metas = sorted((o.meta for o in recorder.offers), key=lambda m: m.seed or 0)
    assert [m.seed for m in metas] == [1234, 1235]
    assert {m.model_version for m in metas} == {"v1 [a1b2c3d4e5]"}
    assert {m.steps for m in metas} == {12}
    assert {m.prompt for m in metas} == {PROMPT}
    assert metas[0].labels == {"sampler": "DPM++ 2M"}
    image = Image.new("RGB", (64, 64), "white")
    assert tap_api.img2img(images=[image], prompt=PROMPT, seed=7, width=256, height=256).info
    wait_for(lambda: len(recorder.offers) == 3)


ROUTES = [
    ("POST", "/v1/images/generations", {"prompt": PROMPT, "n": 2, "size": "128x128"}),
    ("POST", "/sdapi/v1/txt2img", {"prompt": PROMPT, "seed": 5, "width": 128, "height": 128}),
    ("POST", "/v1/images/generations", {"prompt": ""}),  # the generator's 400
    ("POST", "/sdapi/v1/txt2img", {"prompt": 3}),  # the generator's 422
    ("POST", "/fail", None),  # a 500 with a non-ASCII body
    ("GET", "/events", None),  # server-sent events, chunked
    ("GET", "/redirect", None),  # not followed
    ("GET", "/nothing-here", None),  # 404
    ("GET", "/healthz", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_answer_byte_identical(upstream, tapped, method, path, body):
    running, _ = upstream
    tap, _ = tapped
    with httpx.Client(timeout=30) as client:
        direct = client.request(method, running.url + path, json=body)
        through = client.request(method, tap.url + path, json=body)
    assert through.status_code == direct.status_code
    assert sha(through.content) == sha(direct.content)
    for name in ("content-type", "x-model-version", "location"):
        assert through.headers.get(name) == direct.headers.get(name)


def test_headers_forwarded_and_hop_by_hop_removed(upstream, tapped):
    tap, _ = tapped
    headers = {
        "Connection": "keep-alive, X-Secret-Hop",
        "X-Secret-Hop": "1",
        "X-Forwarded-For": "10.0.0.1",
        "Authorization": "Bearer sk-user",
        "Keep-Alive": "timeout=5",
    }
    echoed = httpx.post(f"{tap.url}/echo?q=1", headers=headers, content=b"hello").json()
    seen = {name: value for name, value in echoed["headers"]}
    assert echoed["body"] == "hello"
    assert "x-secret-hop" not in seen and "keep-alive" not in seen
    assert seen["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == tap.url.removeprefix("http://")
    assert seen["host"] == upstream[0].url.removeprefix("http://")
    assert seen["authorization"] == "Bearer sk-user"  # end to end: passed on, never kept


def test_websocket_upgrade_is_refused_with_501(tapped):
    tap, _ = tapped
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    response = httpx.get(f"{tap.url}/ws", headers=headers)
    assert response.status_code == 501
    assert "WebSocket" in response.text


def test_generator_down_gives_the_taps_own_502():
    recorder = Recorder()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with tap_server(tap_config(dead), recorder) as tap:
        response = httpx.post(f"{tap.url}/v1/images/generations", json={"prompt": PROMPT})
        assert response.status_code == 502
        assert response.text.startswith("driftmon tap: the generator at")
        assert httpx.get(f"{tap.url}/tap-healthz").status_code == 200
    assert recorder.offers == []


def test_queue_full_answers_unaffected_and_counted(upstream):
    running, _ = upstream
    recorder = Recorder(refuse_with=Shed("scoring queue is full"))
    with tap_server(tap_config(running.url), recorder) as tap:
        body = {"prompt": PROMPT, "n": 1, "size": "128x128"}
        direct = httpx.post(f"{running.url}/v1/images/generations", json=body, timeout=30)
        through = httpx.post(f"{tap.url}/v1/images/generations", json=body, timeout=30)
        assert sha(through.content) == sha(direct.content)
        wait_for(lambda: recorder.refusals == ["Shed"])


def test_while_the_intake_sheds_sampled_answers_are_not_copied_but_counted(upstream):
    running, _ = upstream
    recorder = Recorder(refuse_with=Shed("scoring queue is full"))
    with tap_server(tap_config(running.url), recorder) as tap:
        sampler = tap.tap.app.sampler
        body = {"prompt": PROMPT, "n": 1, "size": "128x128"}
        direct = httpx.post(f"{running.url}/v1/images/generations", json=body, timeout=30)
        httpx.post(f"{tap.url}/v1/images/generations", json=body, timeout=30)
        wait_for(lambda: recorder.refusals == ["Shed"] and sampler.shedding())
        through = httpx.post(f"{tap.url}/v1/images/generations", json=body, timeout=30)
        assert sha(through.content) == sha(direct.content)
        wait_for(lambda: ("tap", "unknown", "shed") in recorder.counts)
        assert recorder.refusals == ["Shed"]  # not copied, not offered
        assert tap.tap.app.metrics.requests.labels("openai_images", "shed")._value.get() == 1
        later = sampler.clock() + 60  # the back-off is over: the next one is offered again
        sampler.clock = lambda: later
        httpx.post(f"{tap.url}/v1/images/generations", json=body, timeout=30)
        wait_for(lambda: recorder.refusals == ["Shed", "Shed"])


def test_undecodable_image_answer_unaffected_sample_rejected(upstream):
    running, _ = upstream
    recorder = Recorder()
    with tap_server(tap_config(f"{running.url}/broken"), recorder) as tap:
        direct = httpx.post(f"{running.url}/broken/v1/images/generations", json={"prompt": PROMPT})
        through = httpx.post(f"{tap.url}/v1/images/generations", json={"prompt": PROMPT})
        assert through.status_code == 200 and sha(through.content) == sha(direct.content)
        wait_for(lambda: recorder.refusals == ["Rejected"])
    assert recorder.offers == []


def test_client_disconnect_cancels_the_upstream_request(upstream, tapped):
    _, state = upstream
    tap, _ = tapped
    state.cancelled.clear()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{tap.url}/slow", content=b"x", timeout=httpx.Timeout(0.5))
    wait_for(state.cancelled.is_set, timeout=10)


def test_oversized_answer_passes_untapped(upstream):
    running, _ = upstream
    recorder = Recorder()
    with tap_server(tap_config(running.url, max_response_bytes=1000), recorder) as tap:
        body = {"prompt": PROMPT, "n": 1, "size": "128x128"}
        direct = httpx.post(f"{running.url}/v1/images/generations", json=body, timeout=30)
        through = httpx.post(f"{tap.url}/v1/images/generations", json=body, timeout=30)
        assert sha(through.content) == sha(direct.content)
        time.sleep(0.3)
        sample = tap.tap.app.metrics.requests.labels("openai_images", "too_large")._value.get()
        assert sample == 1
    assert recorder.offers == []
