"""The synthetic generator: both APIs over ASGITransport, v1/v2 behaviour, swaps, latency, pushes."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from driftmon.demo import (
    DEMO_PROMPTS,
    MODELS,
    DemoGenerator,
    drawn_lines,
    garble,
    make_generator_app,
    render_scene,
)
from driftmon.demo.generator import BOARD, fit_text
from driftmon.expectations import expected_lines
from driftmon.sources import generator_config, make_generator
from driftmon.sources.generators import PROBE_USER_AGENT

pytestmark = pytest.mark.anyio

PROMPT = 'a bakery window with a sign "FRESH BREAD" and a board "OPEN 7 DAYS"'


async def bounded(awaitable: Any, seconds: float = 10.0) -> Any:
    """Await with a bound so a stuck generator fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, seconds)


def client_for(generator: DemoGenerator, user_agent: str = "shop-frontend/1.0") -> httpx.AsyncClient:
    """An httpx client talking to the generator's app in-process."""
    transport = httpx.ASGITransport(app=make_generator_app(generator))
    return httpx.AsyncClient(transport=transport, base_url="http://demo", headers={"User-Agent": user_agent})


@pytest.fixture
async def demo() -> AsyncIterator[tuple[DemoGenerator, httpx.AsyncClient]]:
    """A generator without simulated latency, and a client for its app."""
    generator = DemoGenerator(latency_scale=0.0)
    async with client_for(generator) as client:
        yield generator, client
    await generator.aclose()


def decode(b64: str) -> Image.Image:
    """A base64 PNG as a PIL image."""
    return Image.open(io.BytesIO(base64.b64decode(b64)))


async def test_openai_api_answers_with_b64_png_and_version(demo: Any) -> None:
    """POST /v1/images/generations gives created, data[0].b64_json of the requested size, the version."""
    _, client = demo
    body = {"prompt": PROMPT, "size": "512x384", "response_format": "b64_json", "seed": 5}
    response = await bounded(client.post("/v1/images/generations", json=body))
    assert response.status_code == 200
    payload = response.json()
    assert isinstance(payload["created"], int) and payload["model_version"] == "v1"
    assert response.headers["X-Model-Version"] == "v1"
    assert decode(payload["data"][0]["b64_json"]).size == (512, 384)


async def test_a1111_api_answers_with_images_parameters_and_info(demo: Any) -> None:
    """POST /sdapi/v1/txt2img gives images, parameters and info (a JSON string) naming the model."""
    _, client = demo
    body = {"prompt": PROMPT, "seed": 9, "width": 384, "height": 512, "steps": 25}
    response = await bounded(client.post("/sdapi/v1/txt2img", json=body))
    payload = response.json()
    info = json.loads(payload["info"])
    assert info["sd_model_name"] == "v1" and info["seed"] == 9 and info["steps"] == 25
    assert payload["parameters"]["width"] == 384
    assert decode(payload["images"][0]).size == (384, 512)


async def test_same_request_same_image_other_seed_other_image(demo: Any) -> None:
    """Images are a function of the request: same seed, same bytes; another seed, other bytes."""
    _, client = demo

    async def image(seed: int) -> str:
        response = await bounded(client.post("/sdapi/v1/txt2img", json={"prompt": PROMPT, "seed": seed}))
        return str(response.json()["images"][0])

    first, again, other = await image(1), await image(1), await image(2)
    assert first == again and first != other


@pytest.mark.parametrize("prompt", [*DEMO_PROMPTS, "a sign 'Rose Garden' and “ÉTÉ 2025”"])
def test_v1_draws_exactly_the_quoted_text(prompt: str) -> None:
    """v1's lines are exactly the prompt's expected lines."""
    assert drawn_lines(prompt, 3, "v1") == expected_lines(prompt)


@given(
    text=st.text(alphabet="ABCDEFGHIJ klmnop 0123456789.!", min_size=1, max_size=40),
    seed=st.integers(0, 2**32),
)
@settings(max_examples=200, deadline=None)
def test_garble_replaces_a_third_of_the_characters(text: str, seed: int) -> None:
    """garble changes exactly round(n/3) non-space characters, keeps spaces and is deterministic."""
    garbled = garble(text, seed, 1 / 3)
    changed = sum(a != b for a, b in zip(text, garbled, strict=True))
    assert changed == round(sum(not c.isspace() for c in text) / 3)
    assert [c.isspace() for c in garbled] == [c.isspace() for c in text]
    assert garble(text, seed, 1 / 3) == garbled


def test_v2_garbles_a_third_of_every_prompt() -> None:
    """Over the demo prompts, v2 gets about a third of the characters wrong, the same way each time."""
    total = wrong = 0
    for index, prompt in enumerate(DEMO_PROMPTS):
        right, drawn = " ".join(expected_lines(prompt)), " ".join(drawn_lines(prompt, index, "v2"))
        total += sum(not c.isspace() for c in right)
        wrong += sum(a != b for a, b in zip(right, drawn, strict=True))
        assert drawn_lines(prompt, index, "v2") == drawn_lines(prompt, index, "v2")
    assert wrong / total == pytest.approx(1 / 3, abs=0.03)


def board_at_border(png: bytes) -> bool:
    """Whether sign-board pixels touch the left or right image border."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    edges = np.concatenate([pixels[:, :2], pixels[:, -2:]], axis=1)
    return bool(np.all(edges == BOARD, axis=-1).any())


def test_v2_sometimes_pushes_the_sign_off_the_edge_v1_never() -> None:
    """Across seeds, some v2 signs are clipped at the border; v1 signs always stay inside."""
    prompt = 'a sign "NORTH RIDGE"'
    v1 = [board_at_border(render_scene(prompt, seed, (512, 512), "v1")) for seed in range(30)]
    v2 = [board_at_border(render_scene(prompt, seed, (512, 512), "v2")) for seed in range(30)]
    assert not any(v1)
    assert 3 <= sum(v2) <= 20


def test_prompt_without_quotes_has_no_sign() -> None:
    """Nothing quoted, nothing drawn: no board pixels at all."""
    pixels = np.asarray(Image.open(io.BytesIO(render_scene("a meadow at dawn", 4, (256, 256)))))
    assert not np.all(pixels == BOARD, axis=-1).any()


def test_text_is_large_where_it_fits() -> None:
    """Short lines get 64 px; long ones are wrapped before the font drops below 48 px."""
    assert fit_text(("OPEN",), 430)[1] == 64
    lines, size = fit_text(("SUMMER MUSIC FESTIVAL 2025",), 430)
    assert size >= 48 and len(lines) == 2


async def test_swap_over_http_and_in_python(demo: Any) -> None:
    """POST /admin/model swaps the model; set_version does the same; responses name the new one."""
    generator, client = demo
    response = await bounded(client.post("/admin/model", json={"version": "v2"}))
    assert response.json() == {"version": "v2"} and generator.version == "v2"
    answer = await bounded(client.post("/v1/images/generations", json={"prompt": PROMPT}))
    assert answer.headers["X-Model-Version"] == "v2" and answer.json()["model_version"] == "v2"
    generator.set_version("v1")
    status = (await bounded(client.get("/admin/model"))).json()
    assert status["version"] == "v1" and status["served"] == {"v2": 1}
    assert (await bounded(client.get("/healthz"))).json() == {"status": "ok", "model_version": "v1"}


async def test_unknown_version_is_refused(demo: Any) -> None:
    """An unknown version is a 400 over HTTP and a ValueError in Python; the model stays."""
    generator, client = demo
    response = await bounded(client.post("/admin/model", json={"version": "v9"}))
    assert response.status_code == 400 and "v9" in response.json()["error"]
    with pytest.raises(ValueError, match="v9"):
        generator.set_version("v9")
    assert generator.version == "v1"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1/images/generations", {"size": "512x512"}, 400),
        ("/v1/images/generations", {"prompt": "x", "response_format": "url"}, 400),
        ("/v1/images/generations", {"prompt": "x", "size": "huge"}, 400),
        ("/v1/images/generations", {"prompt": "x", "size": "8x8"}, 400),
        ("/v1/images/generations", {"prompt": "x", "n": 0}, 400),
        ("/sdapi/v1/txt2img", {"prompt": "x", "width": 10}, 422),
        ("/sdapi/v1/txt2img", {"prompt": "x", "steps": "many"}, 422),
        ("/sdapi/v1/txt2img", [1, 2], 422),
    ],
)
async def test_bad_requests_get_errors(demo: Any, path: str, body: Any, status: int) -> None:
    """Invalid requests get the API's error status and a JSON body, and the app keeps serving."""
    _, client = demo
    response = await bounded(client.post(path, json=body))
    assert response.status_code == status
    assert "error" in response.json() or "detail" in response.json()
    assert (await bounded(client.get("/healthz"))).status_code == 200


async def test_body_that_is_not_json(demo: Any) -> None:
    """A body that is not JSON is a 400 from the OpenAI route."""
    _, client = demo
    response = await bounded(client.post("/v1/images/generations", content=b"{oops"))
    assert response.status_code == 400 and "not JSON" in response.json()["error"]["message"]


def test_latency_means_and_deterministic_jitter() -> None:
    """Latencies stay within ±15% of 85 ms (v1) and 320 ms (v2), the same sequence per seed."""
    one, two = DemoGenerator(seed=7), DemoGenerator(seed=7)
    v1 = [one.latency_for("v1") for _ in range(200)]
    v2 = [one.latency_for("v2") for _ in range(200)]
    assert all(0.085 * 0.85 <= x <= 0.085 * 1.15 for x in v1)
    assert all(0.320 * 0.85 <= x <= 0.320 * 1.15 for x in v2)
    assert sum(v2) / len(v2) == pytest.approx(0.320, rel=0.03)
    assert [two.latency_for("v1") for _ in range(200)] == v1
    assert DemoGenerator(latency_scale=0.1).latency_for("v2") <= 0.032 * 1.15


async def test_simulated_latency_is_slept_and_reported() -> None:
    """With latency_scale 0.25, a v2 request sleeps what rendering left of its ~80 ms target, and
    reports at least the target (the sleep is injected: nothing here reads the wall clock)."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    target = DemoGenerator("v2", latency_scale=0.25).latency_for("v2")  # the same seeded draw
    generator = DemoGenerator("v2", latency_scale=0.25, sleep=sleep)
    rendered = await bounded(generator.generate(PROMPT, 1, (256, 256)))
    assert 0.32 * 0.25 * 0.85 <= target <= 0.32 * 0.25 * 1.15
    assert len(slept) <= 1 and all(0 < s <= target for s in slept)  # none if rendering took longer
    assert rendered.latency_seconds + sum(slept) >= target
    await generator.aclose()


class Daemon:
    """A fake daemon intake for pushes: records bodies, answers `status`."""

    def __init__(self, status: int = 202) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.status = status

    def handler(self, request: httpx.Request) -> httpx.Response:
        """The MockTransport handler."""
        self.bodies.append(json.loads(request.content))
        self.auth.append(request.headers.get("Authorization"))
        return httpx.Response(self.status, json={"id": "x", "sampled": True})


def pushing(daemon: Daemon, ratio: float = 1.0, **kwargs: Any) -> DemoGenerator:
    """A latency-free generator pushing to `daemon`."""
    return DemoGenerator(
        latency_scale=0.0,
        push_to="http://daemon.test/v1/samples",
        push_ratio=ratio,
        push_transport=httpx.MockTransport(daemon.handler),
        **kwargs,
    )


async def test_production_outputs_are_pushed_with_meta() -> None:
    """With push_ratio 1 every production output reaches the daemon with image_b64 and meta."""
    daemon = Daemon()
    generator = pushing(daemon, push_token="tok")
    async with client_for(generator) as client:
        response = await bounded(
            client.post("/sdapi/v1/txt2img", json={"prompt": PROMPT, "seed": 4, "steps": 12})
        )
    assert await bounded(generator.flush(5.0))
    body = daemon.bodies[0]
    assert base64.b64decode(body["image_b64"]) == base64.b64decode(response.json()["images"][0])
    assert body["prompt"] == PROMPT and body["model_version"] == "v1" and body["seed"] == 4
    assert body["steps"] == 12 and body["latency_seconds"] >= 0 and len(body["request_id"]) == 32
    assert body["labels"] == {"service": "demo-generator"}
    assert daemon.auth == ["Bearer tok"] and generator.pushes == {"ok": 1}
    await generator.aclose()


async def test_probe_requests_are_never_pushed() -> None:
    """Requests with driftmon's probe User-Agent are not pushed (they would be counted twice)."""
    daemon = Daemon()
    generator = pushing(daemon)
    async with client_for(generator, user_agent=PROBE_USER_AGENT) as client:
        await bounded(client.post("/v1/images/generations", json={"prompt": PROMPT}))
    await bounded(generator.flush(5.0))
    assert daemon.bodies == [] and generator.served == {"v1": 1}
    await generator.aclose()


async def test_push_ratio_picks_a_deterministic_share() -> None:
    """push_ratio 0.5 pushes about half of 40 outputs, the same ones for the same seed."""

    async def pushed(seed: int) -> list[str]:
        daemon = Daemon()
        generator = pushing(daemon, ratio=0.5, seed=seed)
        for index in range(40):
            await bounded(generator.generate(f'sign "N{index}"', index, (64, 64)))
        await bounded(generator.flush(5.0))
        await generator.aclose()
        return [body["prompt"] for body in daemon.bodies]

    first = await pushed(3)
    assert 10 <= len(first) <= 30
    assert sorted(await pushed(3)) == sorted(first)


async def test_push_failures_are_counted_not_raised() -> None:
    """A daemon answering 429 or not reachable costs counters, never the generator's answer."""
    generator = pushing(Daemon(status=429))
    await bounded(generator.generate(PROMPT, 1, (64, 64)))
    await bounded(generator.flush(5.0))
    assert generator.pushes == {"rejected": 1}
    await generator.aclose()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused")

    broken = DemoGenerator(
        latency_scale=0.0,
        push_to="http://daemon.test/v1/samples",
        push_ratio=1.0,
        push_transport=httpx.MockTransport(refuse),
    )
    await bounded(broken.generate(PROMPT, 1, (64, 64)))
    await bounded(broken.flush(5.0))
    assert broken.pushes == {"error": 1}
    await broken.aclose()


async def test_pending_pushes_are_bounded() -> None:
    """Beyond max_pending_pushes, outputs are dropped from pushing and counted."""
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(202, json={})

    generator = DemoGenerator(
        latency_scale=0.0,
        push_to="http://daemon.test/v1/samples",
        push_ratio=1.0,
        push_transport=httpx.MockTransport(slow),
        max_pending_pushes=2,
    )
    for seed in range(4):
        await bounded(generator.generate(PROMPT, seed, (64, 64)))
    assert generator.pushes["dropped"] == 2
    release.set()
    assert await bounded(generator.flush(5.0))
    assert generator.pushes["ok"] == 2
    await generator.aclose()


@pytest.mark.parametrize("kind", ["openai_images", "a1111"])
async def test_driftmon_adapters_read_the_demo_generator(kind: str) -> None:
    """driftmon's own adapters get an image and the model version from the demo generator."""
    generator = DemoGenerator(latency_scale=0.0)
    config = generator_config(
        kind=kind, url="http://demo", model_version_header="X-Model-Version", send_seed=True
    )
    adapter = make_generator(config, transport=httpx.ASGITransport(app=make_generator_app(generator)))
    first = await bounded(adapter.generate(PROMPT, 11, (512, 512)))
    generator.set_version("v2")
    second = await bounded(adapter.generate(PROMPT, 11, (512, 512)))
    await adapter.aclose()
    assert (first.model_version, second.model_version) == ("v1", "v2")
    assert first.image_bytes == render_scene(PROMPT, 11, (512, 512), "v1")
    assert set(MODELS) == {"v1", "v2"}


@pytest.mark.slow
def test_easyocr_reads_v1_and_stumbles_on_v2(ocr_reader: Any) -> None:
    """The real OCR reads v1's signs back (fidelity ≥ 0.9) and scores v2 clearly lower."""
    from driftmon.scoring.text import score_text

    prompts = ('a sign "NORTH RIDGE"', 'a board "COFFEE TO GO"')

    def fidelity(version: str) -> float:
        scores = []
        for seed, prompt in enumerate(prompts):
            png = render_scene(prompt, seed, (512, 512), version)
            pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
            result = score_text(expected_lines(prompt), ocr_reader.read_one(pixels))
            scores.append(result.text_fidelity or 0.0)
        return sum(scores) / len(scores)

    v1, v2 = fidelity("v1"), fidelity("v2")
    assert v1 >= 0.9
    assert v2 <= v1 - 0.15


def test_noise_varies_each_call_reproducibly_and_slips_at_the_models_rate() -> None:
    """--noise: the same request draws a different picture per call (not tied to the seed);
    with a noise seed the n-th call is reproducible; v1 slips a character at its own rate."""
    import random as _random

    from driftmon.demo.generator import MODELS, slip

    prompt = 'a sign "OPEN DAILY"'
    first = render_scene(prompt, 3, (256, 256), "v1", _random.Random("a"))
    again = render_scene(prompt, 3, (256, 256), "v1", _random.Random("a"))
    other = render_scene(prompt, 3, (256, 256), "v1", _random.Random("b"))
    assert first == again and first != other
    assert render_scene(prompt, 3, (256, 256), "v1") == render_scene(prompt, 3, (256, 256), "v1")
    chance = MODELS["v1"].slip_chance
    slipped = sum(slip(("OPEN DAILY",), _random.Random(i), chance) != ("OPEN DAILY",) for i in range(4000))
    assert abs(slipped / 4000 - chance) < 0.01


async def test_generator_noise_option_changes_images_per_call() -> None:
    from driftmon.demo.generator import DemoGenerator

    noisy = DemoGenerator("v1", latency_scale=0.0, noise=True, noise_seed=7)
    replay = DemoGenerator("v1", latency_scale=0.0, noise=True, noise_seed=7)
    calls = [(await noisy.generate('a sign "HI"', 1, (128, 128))).png for _ in range(3)]
    assert len(set(calls)) == 3
    assert [(await replay.generate('a sign "HI"', 1, (128, 128))).png for _ in range(3)] == calls
