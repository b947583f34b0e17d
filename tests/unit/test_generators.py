"""Generator adapters through httpx.MockTransport: requests, parsing, and every failure reason."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from driftmon.errors import ConfigError, GeneratorError
from driftmon.sources import FAILURE_REASONS, GENERATOR_KINDS, Generated, generator_config, make_generator
from driftmon.sources.generators import PROBE_USER_AGENT, fill_template, lookup, redact_url

pytestmark = pytest.mark.anyio

#: every registered adapter kind: the contract tests below run against each
KINDS = sorted(GENERATOR_KINDS)
Handler = Callable[[httpx.Request], Any]


def png_bytes(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A small valid PNG."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, format="PNG")
    return out.getvalue()


PNG = png_bytes()


@dataclass(frozen=True)
class Example:
    """How a kind answers a generation: its successful body around an image, the version it reports."""

    answer: Callable[[Any], dict[str, Any]]
    model_version: str


def a1111_answer(image_b64: Any) -> dict[str, Any]:
    info = {"sd_model_name": "sdxl-base", "steps": 30, "seed": 7}
    return {"images": [image_b64], "parameters": {"steps": 30}, "info": json.dumps(info)}


#: per registered kind, with its configuration's defaults (only `url` set). A kind registered
#: without an example fails the suite (`test_every_registered_kind_has_an_example`, `example`).
EXAMPLES: dict[str, Example] = {
    "openai_images": Example(lambda image_b64: {"created": 1, "data": [{"b64_json": image_b64}]}, "unknown"),
    "a1111": Example(a1111_answer, "sdxl-base"),
    "http": Example(lambda image_b64: {"image": image_b64}, "unknown"),
}


def example(kind: str) -> Example:
    """`kind`'s example; a clear failure (not a skip) for a registered kind that has none."""
    if kind not in EXAMPLES:
        pytest.fail(f"generator kind {kind!r} is registered but has no entry in EXAMPLES", pytrace=False)
    return EXAMPLES[kind]


def ok_payload(kind: str, image_b64: Any) -> dict[str, Any]:
    """A successful response body of `kind` carrying `image_b64`."""
    return example(kind).answer(image_b64)


def ticking_clock(step: float = 0.25) -> Callable[[], float]:
    """A clock that advances by `step` on every reading."""
    ticks = iter(range(1_000_000))
    return lambda: next(ticks) * step


def make(kind: str, handler: Handler, **overrides: Any) -> Any:
    """The adapter of `kind` on a MockTransport serving `handler`."""
    config = generator_config(kind=kind, url="http://gen.test:7860", **overrides)
    return make_generator(config, transport=httpx.MockTransport(handler), clock=ticking_clock())


async def generate(adapter: Any) -> Generated:
    """One bounded call of `adapter` (closing its client afterwards)."""
    try:
        return await asyncio.wait_for(adapter.generate("a sign 'HELLO'", 7, (512, 512)), 5)
    finally:
        await adapter.aclose()


async def failure_reason(kind: str, handler: Handler, **overrides: Any) -> str:
    """The reason of the GeneratorError that `kind` raises against `handler`."""
    with pytest.raises(GeneratorError) as caught:
        await generate(make(kind, handler, **overrides))
    return caught.value.reason


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every registered adapter kind: the contract tests run against each."""
    yield request.param


def test_every_registered_kind_has_an_example() -> None:
    """The contract runs over `GENERATOR_KINDS`; each kind needs an example and no example is stale."""
    missing, stale = sorted(set(KINDS) - set(EXAMPLES)), sorted(set(EXAMPLES) - set(KINDS))
    assert not missing, f"registered generator kinds without an entry in EXAMPLES: {missing}"
    assert not stale, f"EXAMPLES names kinds that are not registered: {stale}"


def reply(status: int = 200, **kwargs: Any) -> Handler:
    """A handler that answers every request with `httpx.Response(status, **kwargs)`."""
    return lambda request: httpx.Response(status, **kwargs)


def respond(body: Any, status: int = 200, **kwargs: Any) -> Handler:
    """A handler that answers every request with `body` as JSON."""
    return reply(status, json=body, **kwargs)


def raising(exc: Exception) -> Handler:
    """A handler whose transport fails with `exc`."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


async def test_success_returns_image_latency_and_version(kind: str) -> None:
    """A good answer gives the image bytes, the latency measured around the call and a version."""
    result = await generate(make(kind, respond(ok_payload(kind, base64.b64encode(PNG).decode()))))
    assert result.image_bytes == PNG
    assert result.latency_seconds == pytest.approx(0.25)
    assert result.model_version == example(kind).model_version


async def test_timeout(kind: str) -> None:
    """httpx's read timeout becomes reason `timeout`."""
    assert await failure_reason(kind, raising(httpx.ReadTimeout("slow"))) == "timeout"


async def test_overall_deadline_bounds_a_hanging_server(kind: str) -> None:
    """A server that never answers is cut off after connect_timeout + timeout."""

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    reason = await failure_reason(kind, hang, timeout=0.05, connect_timeout=0.05)
    assert reason == "timeout"


async def test_connection_refused(kind: str) -> None:
    """A refused connection becomes reason `connection`."""
    assert await failure_reason(kind, raising(httpx.ConnectError("Connection refused"))) == "connection"


async def test_real_refused_port_on_loopback(kind: str) -> None:
    """Against a loopback port nobody listens on (no mock), the reason is `connection`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = generator_config(kind=kind, url=f"http://127.0.0.1:{port}", connect_timeout=2, timeout=2)
    with pytest.raises(GeneratorError) as caught:
        await generate(make_generator(config))
    assert caught.value.reason == "connection"


@pytest.mark.parametrize(
    ("status", "reason"),
    [(500, "http_5xx"), (503, "http_5xx"), (401, "http_4xx"), (404, "http_4xx"), (302, "http_other")],
)
async def test_http_status(kind: str, status: int, reason: str) -> None:
    """Non-2xx statuses map to http_5xx, http_4xx or http_other and the message names the status."""
    with pytest.raises(GeneratorError) as caught:
        await generate(make(kind, respond({"error": "model loading"}, status)))
    assert caught.value.reason == reason
    assert f"HTTP {status}" in str(caught.value)


async def test_bad_json(kind: str) -> None:
    """An HTML error page with status 200 is reason `bad_json`."""
    assert await failure_reason(kind, reply(text="<html>oops</html>")) == "bad_json"


async def test_json_that_is_not_an_object(kind: str) -> None:
    """A JSON array is not a response object: `bad_json`."""
    assert await failure_reason(kind, respond([1, 2, 3])) == "bad_json"


async def test_missing_image_field(kind: str) -> None:
    """JSON without the image is `bad_response`."""
    assert await failure_reason(kind, respond({"detail": "nothing here"})) == "bad_response"


async def test_image_field_not_a_string(kind: str) -> None:
    """An image field holding a number is `bad_response`."""
    assert await failure_reason(kind, respond(ok_payload(kind, 12345))) == "bad_response"


async def test_bad_base64(kind: str) -> None:
    """Characters outside the base64 alphabet are `bad_base64`."""
    assert await failure_reason(kind, respond(ok_payload(kind, "not base64 !!!"))) == "bad_base64"


async def test_not_an_image(kind: str) -> None:
    """Valid base64 of bytes that are no image is `not_image`."""
    payload = ok_payload(kind, base64.b64encode(b"hello, I am text").decode())
    assert await failure_reason(kind, respond(payload)) == "not_image"


async def test_truncated_png_is_not_an_image(kind: str) -> None:
    """A PNG cut in half fails verification: `not_image`."""
    payload = ok_payload(kind, base64.b64encode(PNG[: len(PNG) // 2]).decode())
    assert await failure_reason(kind, respond(payload)) == "not_image"


async def test_data_url_and_line_breaks_are_accepted(kind: str) -> None:
    """A ``data:image/png;base64,`` prefix and wrapped base64 lines still decode."""
    encoded = base64.encodebytes(PNG).decode()
    result = await generate(make(kind, respond(ok_payload(kind, "data:image/png;base64," + encoded))))
    assert result.image_bytes == PNG


async def test_every_reason_is_in_the_bounded_set(kind: str) -> None:
    """The reasons the adapters raise are all listed in FAILURE_REASONS (bounded label values)."""
    cases = [raising(httpx.ReadTimeout("x")), raising(httpx.ConnectError("x")), respond({}, 500)]
    reasons = {await failure_reason(kind, handler) for handler in cases}
    assert reasons <= set(FAILURE_REASONS)


async def test_api_key_sent_as_bearer_and_never_shown(kind: str, tmp_path: Path) -> None:
    """The key file's content goes into Authorization only: not into repr or error messages."""
    key_file = tmp_path / "key"
    key_file.write_text("sk-secret-123\n")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500, text="boom")

    adapter = make(kind, handler, api_key_file=key_file)
    with pytest.raises(GeneratorError) as caught:
        await generate(adapter)
    assert seen[0].headers["Authorization"] == "Bearer sk-secret-123"
    assert seen[0].headers["User-Agent"] == PROBE_USER_AGENT
    assert "sk-secret" not in str(caught.value) and "sk-secret" not in repr(adapter)


def test_missing_api_key_file_names_the_file(tmp_path: Path) -> None:
    """An unreadable key file is a ConfigError naming the file."""
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match="nope"):
        make_generator(generator_config(api_key_file=missing))


def test_empty_api_key_file_is_refused(tmp_path: Path) -> None:
    """An empty key file is a ConfigError rather than an empty bearer token."""
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        make_generator(generator_config(api_key_file=empty))


def capture(kind: str, **overrides: Any) -> tuple[list[httpx.Request], Any]:
    """An adapter answering successfully and the list its requests are recorded in."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=ok_payload(kind, base64.b64encode(PNG).decode()))

    return seen, make(kind, handler, **overrides)


async def test_openai_request_shape() -> None:
    """OpenAI: POST /v1/images/generations with prompt, n=1, WxH size, b64_json, model; no seed."""
    seen, adapter = capture("openai_images", model="gpt-image-1")
    result = await generate(adapter)
    body = json.loads(seen[0].content)
    assert str(seen[0].url) == "http://gen.test:7860/v1/images/generations"
    assert body == {
        "prompt": "a sign 'HELLO'",
        "n": 1,
        "size": "512x512",
        "response_format": "b64_json",
        "model": "gpt-image-1",
    }
    assert result.model_version == "gpt-image-1"


async def test_openai_base_url_with_v1_is_not_doubled() -> None:
    """A base URL ending in /v1 (as OpenAI documents it) gets /images/generations, not /v1/v1/."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=ok_payload("openai_images", base64.b64encode(PNG).decode()))

    config = generator_config(kind="openai_images", url="https://api.test/v1/")
    await generate(make_generator(config, transport=httpx.MockTransport(handler)))
    assert str(seen[0].url) == "https://api.test/v1/images/generations"


async def test_openai_send_seed_and_version_header() -> None:
    """With send_seed the seed is sent; model_version_header names the version."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        payload = ok_payload("openai_images", base64.b64encode(PNG).decode())
        return httpx.Response(200, json=payload, headers={"X-Model-Version": "v2"})

    adapter = make("openai_images", handler, send_seed=True, model_version_header="X-Model-Version")
    result = await generate(adapter)
    assert json.loads(seen[0].content)["seed"] == 7
    assert result.model_version == "v2"


async def test_a1111_request_shape_and_steps() -> None:
    """A1111: seed, width, height, steps and checkpoint are sent; steps come back from info."""
    seen, adapter = capture("a1111", steps=30, model="sdxl-base.safetensors")
    result = await generate(adapter)
    body = json.loads(seen[0].content)
    assert seen[0].url.path == "/sdapi/v1/txt2img"
    assert body["seed"] == 7 and body["width"] == 512 and body["height"] == 512
    assert body["steps"] == 30
    assert body["override_settings"] == {"sd_model_checkpoint": "sdxl-base.safetensors"}
    assert result.steps == 30


async def test_a1111_model_version_path_into_info() -> None:
    """model_version_path looks into the decoded info string (info.sd_model_hash)."""
    payload = ok_payload("a1111", base64.b64encode(PNG).decode())
    payload["info"] = json.dumps({"sd_model_hash": "31e35c80fc", "sd_model_name": "x"})
    adapter = make("a1111", respond(payload), model_version_path="info.sd_model_hash")
    assert (await generate(adapter)).model_version == "31e35c80fc"


async def test_a1111_without_version_falls_back_to_config() -> None:
    """When info names no model, the configured model_version is reported."""
    payload = {"images": [base64.b64encode(PNG).decode()], "info": "not json"}
    adapter = make("a1111", respond(payload), model_version="sd15-prod")
    result = await generate(adapter)
    assert result.model_version == "sd15-prod" and result.steps is None


async def test_http_template_fills_typed_placeholders() -> None:
    """The template gets numbers where a placeholder stands alone, text inside strings."""
    template = {"input": {"text": "{prompt}", "seed": "{seed}", "dims": "{size}", "w": "{width}"}}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"output": {"images": [base64.b64encode(PNG).decode()]}, "meta": {"model": "flux-dev"}}
        )

    adapter = make(
        "http", handler, body_template=template, image_path="output.images.0", model_version_path="meta.model"
    )
    result = await generate(adapter)
    assert json.loads(seen[0].content) == {
        "input": {"text": "a sign 'HELLO'", "seed": 7, "dims": "512x512", "w": 512}
    }
    assert str(seen[0].url) == "http://gen.test:7860"
    assert result.model_version == "flux-dev"


async def test_http_template_accepts_a_raw_image_body() -> None:
    """A response with an image/* content type is taken as the image itself."""
    handler = reply(content=PNG, headers={"content-type": "image/png"})
    assert (await generate(make("http", handler))).image_bytes == PNG


async def test_http_template_raw_body_that_is_not_an_image() -> None:
    """An image/* content type with garbage bytes is `not_image`."""
    handler = reply(content=b"nope", headers={"content-type": "image/png"})
    assert await failure_reason("http", handler) == "not_image"


def test_fill_template_leaves_other_values_alone() -> None:
    """Numbers, booleans and unknown placeholders pass through; None fills as empty inside text."""
    template = {"a": [1, True, None, "{other}"], "b": "steps={steps}", "c": "{steps}"}
    filled = fill_template(template, {"steps": None})
    assert filled == {"a": [1, True, None, "{other}"], "b": "steps=", "c": None}


def test_lookup_walks_dicts_and_lists() -> None:
    """Dotted paths index dicts by key and lists by position; a miss is KeyError."""
    data = {"data": [{"b64_json": "x"}]}
    assert lookup(data, "data.0.b64_json") == "x"
    with pytest.raises(KeyError):
        lookup(data, "data.1.b64_json")


def test_redact_url_drops_credentials_and_query() -> None:
    """User info, query and fragment never reach a log line."""
    assert redact_url("https://user:pw@gen.test:8443/x?key=secret#f") == "https://gen.test:8443/x"
