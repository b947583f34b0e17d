"""Generator API adapters: one image per call; every failure a `GeneratorError` with a bounded reason.

    Generator (Protocol)   async generate(prompt, seed, size) -> Generated; async aclose()
    ├── OpenAIImages       POST {url}/v1/images/generations  (response_format b64_json)
    ├── A1111              POST {url}/sdapi/v1/txt2img        (AUTOMATIC1111, Forge)
    └── HttpTemplate       POST {url} with a JSON body template; the image at a dotted path

Failure reasons (`FAILURE_REASONS`, the only values of the `reason` metric label):

    timeout       no complete answer within connect_timeout + timeout
    connection    connection refused or reset, DNS failure, protocol error
    http_4xx      the generator answered 4xx (bad request, auth, not found, ...)
    http_5xx      the generator answered 5xx
    http_other    an unexpected status (1xx, 3xx: redirects are not followed)
    bad_json      the body is not JSON (or not a JSON object)
    bad_response  JSON without an image where one was expected
    bad_base64    the image field is not valid base64
    not_image     the bytes decode but are not a readable image

Each adapter owns its configuration model (`OpenAIImagesConfig`, `A1111Config`,
`HttpTemplateConfig`, on `sources.base.GeneratorConfigBase`) and registers both in
`sources.base.GENERATOR_KINDS`.

The API key (`api_key_file`) is read once, sent as a bearer token and never logged; error
messages name the endpoint without its query string.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from PIL import Image
from pydantic import Field

from driftmon import __version__
from driftmon.errors import GeneratorError
from driftmon.http import make_client
from driftmon.secrets import read_secret_file
from driftmon.sources.base import (
    GENERATOR_KINDS,
    Generated,
    Generator,
    GeneratorConfigBase,
    register_generator,
)

FAILURE_REASONS = (
    "timeout",
    "connection",
    "http_4xx",
    "http_5xx",
    "http_other",
    "bad_json",
    "bad_response",
    "bad_base64",
    "not_image",
)

#: the demo generator (and any generator that cares) can tell probes from production traffic
PROBE_USER_AGENT = f"driftmon-probe/{__version__}"

_MAX_VERSION_LEN = 64
_SNIPPET_LEN = 120


def redact_url(url: str) -> str:
    """`url` without user info, query or fragment: safe to log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def read_api_key(config: GeneratorConfigBase) -> str | None:
    """The API key from `api_key_file`, stripped; ConfigError names the key and file, never the content."""
    if config.api_key_file is None:
        return None
    return read_secret_file(config.api_key_file, "sources.probe.generator.api_key_file")


def lookup(data: Any, dotted: str) -> Any:
    """The value at a dotted path (``data.0.b64_json``); integer parts index lists; KeyError if absent."""
    node = data
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(dotted)
    return node


def lookup_all(data: Any, dotted: str) -> list[Any]:
    """Every value at a dotted path where ``*`` stands for each item of a list (``data.*.url``);
    without ``*`` the one value `lookup` finds; [] where nothing is found (pure)."""
    head, star, tail = dotted.partition("*")
    if not star:
        try:
            return [lookup(data, dotted)]
        except KeyError:
            return []
    try:
        items = lookup(data, head.rstrip(".")) if head else data
    except KeyError:
        return []
    if not isinstance(items, list):
        return []
    rest = tail.lstrip(".")
    return [found for item in items for found in (lookup_all(item, rest) if rest else [item])]


def decode_image(value: Any) -> bytes:
    """Decode a base64 image (a ``data:`` URL prefix is allowed) and check that it is an image."""
    if not isinstance(value, str):
        raise GeneratorError("bad_response", f"the image field is a {type(value).__name__}, not a string")
    if value.startswith("data:"):
        value = value.partition(",")[2]
    try:
        raw = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise GeneratorError("bad_base64", f"the image field is not valid base64: {exc}") from exc
    check_image(raw)
    return raw


def check_image(raw: bytes) -> None:
    """Raise GeneratorError(not_image) unless `raw` opens and verifies as an image (no full decode)."""
    try:
        with Image.open(io.BytesIO(raw)) as image:
            image.verify()
    except Exception as exc:  # PIL raises many kinds (OSError, SyntaxError, DecompressionBomb...)
        raise GeneratorError("not_image", f"{len(raw)} bytes that are not a readable image") from exc


def _snippet(response: httpx.Response) -> str:
    text = " ".join(response.text[:_SNIPPET_LEN].split())
    return f": {text}" if text else ""


def _status_reason(status: int) -> str:
    if status >= 500:
        return "http_5xx"
    if status >= 400:
        return "http_4xx"
    return "http_other"


def _scalar(value: Any) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:_MAX_VERSION_LEN]
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


ConfigT = TypeVar("ConfigT", bound=GeneratorConfigBase)


class _HttpGenerator(Generic[ConfigT]):
    """POST a JSON body, measure the latency, map every failure to a bounded reason."""

    path: ClassVar[str] = ""
    #: where the model version is found when `model_version_path` is not configured
    default_version_path: ClassVar[str | None] = None

    def __init__(
        self,
        config: ConfigT,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.config = config
        self.endpoint = redact_url(self._url(config.url))
        self._url_full = self._url(config.url)
        self._clock = clock
        #: httpx's timeouts bound each operation; this bounds the whole call (a slow drip too)
        self._deadline = config.timeout + config.connect_timeout
        self._client = make_client(
            timeout=config.timeout,
            connect_timeout=config.connect_timeout,
            transport=transport,
            headers=self._headers(),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint!r})"

    def _url(self, base: str) -> str:
        base = base.rstrip("/")
        if base.endswith(self.path):
            return base
        if base.endswith("/v1") and self.path.startswith("/v1/"):  # https://api.openai.com/v1
            return base + self.path[3:]
        return base + self.path

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": PROBE_USER_AGENT, "Accept": "application/json"}
        key = read_api_key(self.config)
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def aclose(self) -> None:
        """Close the HTTP client and its connections."""
        await self._client.aclose()

    async def generate(self, prompt: str, seed: int, size: tuple[int, int]) -> Generated:
        """Generate one image of `size` (width, height); GeneratorError on any failure."""
        body = self.request_body(prompt, seed, size)
        started = self._clock()
        response = await self._post(body)
        latency = max(0.0, self._clock() - started)
        image, payload = self.extract(response)
        return Generated(
            image_bytes=image,
            latency_seconds=latency,
            model_version=self._model_version(payload, response),
            steps=self.steps(payload),
        )

    async def _post(self, body: Any) -> httpx.Response:
        try:
            async with asyncio.timeout(self._deadline):
                response = await self._client.post(self._url_full, json=body)
        except (TimeoutError, httpx.TimeoutException) as exc:
            message = f"{self.endpoint}: no answer within {self._deadline:g} s"
            raise GeneratorError("timeout", message) from exc
        except httpx.TransportError as exc:
            raise GeneratorError("connection", f"{self.endpoint}: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            reason = _status_reason(response.status_code)
            raise GeneratorError(reason, f"{self.endpoint}: HTTP {response.status_code}{_snippet(response)}")
        return response

    def request_body(self, prompt: str, seed: int, size: tuple[int, int]) -> Any:
        """The JSON body of one request."""
        raise NotImplementedError

    def extract(self, response: httpx.Response) -> tuple[bytes, Any]:
        """The checked image bytes and the parsed payload (for model version and steps)."""
        payload = self.parse_json(response)
        return decode_image(self.image_field(payload)), payload

    def parse_json(self, response: httpx.Response) -> Any:
        """The response's JSON object, or GeneratorError(bad_json)."""
        try:
            payload = json.loads(response.content)
        except ValueError as exc:
            raise GeneratorError("bad_json", f"{self.endpoint}: the body is not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise GeneratorError("bad_json", f"{self.endpoint}: the body is not a JSON object")
        return payload

    def image_field(self, payload: Any) -> Any:
        """The base64 image inside the payload, or GeneratorError(bad_response)."""
        raise NotImplementedError

    def steps(self, payload: Any) -> int | None:
        """Sampling steps as reported by the generator or as configured; None if unknown."""
        return None

    def _model_version(self, payload: Any, response: httpx.Response) -> str:
        path = self.config.model_version_path or self.default_version_path
        if path:
            try:
                found = _scalar(lookup(payload, path))
            except KeyError:
                found = None
            if found:
                return found
        header = self.config.model_version_header
        if header and _scalar(response.headers.get(header)):
            return str(_scalar(response.headers.get(header)))
        return self.fallback_version()

    def fallback_version(self) -> str:
        """The configured model version, used when the response names none."""
        return self.config.model_version

    def _field(self, payload: Any, dotted: str) -> Any:
        try:
            return lookup(payload, dotted)
        except KeyError:
            raise GeneratorError("bad_response", f"{self.endpoint}: no {dotted} in the response") from None


class OpenAIImagesConfig(GeneratorConfigBase):
    """The OpenAI Images API and OpenAI-compatible servers."""

    kind: Literal["openai_images"] = "openai_images"
    #: the ``model`` field of each request; also the version when the response names none
    model: str | None = None
    #: send the probe's seed (OpenAI-compatible servers that accept one; OpenAI has none)
    send_seed: bool = False


class OpenAIImages(_HttpGenerator[OpenAIImagesConfig]):
    """The OpenAI Images API: ``POST {url}/v1/images/generations`` with ``response_format: b64_json``.

    The seed is sent only with ``send_seed: true`` (OpenAI itself has no seed parameter).
    """

    path = "/v1/images/generations"

    def request_body(self, prompt: str, seed: int, size: tuple[int, int]) -> Any:
        """Prompt, one image, the size as ``WxH``, base64 output; model and seed if configured."""
        body: dict[str, Any] = {
            "prompt": prompt,
            "n": 1,
            "size": f"{size[0]}x{size[1]}",
            "response_format": "b64_json",
        }
        if self.config.model:
            body["model"] = self.config.model
        if self.config.send_seed:
            body["seed"] = seed
        return body

    def image_field(self, payload: Any) -> Any:
        """``data[0].b64_json``."""
        return self._field(payload, "data.0.b64_json")

    def fallback_version(self) -> str:
        """The configured model_version, else the configured model name."""
        if self.config.model_version == "unknown" and self.config.model:
            return self.config.model
        return self.config.model_version


class A1111Config(GeneratorConfigBase):
    """AUTOMATIC1111 / Forge's txt2img API."""

    kind: Literal["a1111"] = "a1111"
    #: the checkpoint (``override_settings.sd_model_checkpoint``); None = the server's current one
    model: str | None = None
    #: sampling steps requested; None = server default
    steps: int | None = Field(None, ge=1)
    #: send the probe's seed (default); false lets the server draw one
    send_seed: bool = True


class A1111(_HttpGenerator[A1111Config]):
    """AUTOMATIC1111 / Forge: ``POST {url}/sdapi/v1/txt2img``; the model from ``info.sd_model_name``.

    ``info`` (a JSON string in the API) is decoded before paths are looked up, so
    ``model_version_path: info.sd_model_hash`` works too.
    """

    path = "/sdapi/v1/txt2img"
    default_version_path = "info.sd_model_name"

    def request_body(self, prompt: str, seed: int, size: tuple[int, int]) -> Any:
        """Prompt, seed, width and height, one image; steps and checkpoint if configured."""
        body: dict[str, Any] = {
            "prompt": prompt,
            "seed": seed,
            "width": size[0],
            "height": size[1],
            "batch_size": 1,
            "n_iter": 1,
        }
        if not self.config.send_seed:
            del body["seed"]
        if self.config.steps is not None:
            body["steps"] = self.config.steps
        if self.config.model:
            body["override_settings"] = {"sd_model_checkpoint": self.config.model}
        return body

    def parse_json(self, response: httpx.Response) -> Any:
        """The payload with its ``info`` string decoded (left as is if it is not JSON)."""
        payload = super().parse_json(response)
        info = payload.get("info")
        if isinstance(info, str):
            with contextlib.suppress(ValueError):
                payload["info"] = json.loads(info)
        return payload

    def image_field(self, payload: Any) -> Any:
        """``images[0]``."""
        return self._field(payload, "images.0")

    def steps(self, payload: Any) -> int | None:
        """``parameters.steps`` or ``info.steps``, else the configured steps."""
        for path in ("info.steps", "parameters.steps"):
            try:
                found = _int_or_none(lookup(payload, path))
            except KeyError:
                continue
            if found is not None:
                return found
        return self.config.steps


class HttpTemplateConfig(GeneratorConfigBase):
    """Any JSON API: a body template in, the image at a dotted path out."""

    kind: Literal["http"] = "http"
    #: JSON body template; {prompt}, {seed}, {width}, {height}, {size}, {steps} are substituted
    body_template: dict[str, Any] | None = None
    #: dotted path to the base64 image in the response, e.g. ``data.0.b64_json``
    image_path: str = "image"
    #: sampling steps for {steps} in the template; None = left empty
    steps: int | None = Field(None, ge=1)


class HttpTemplate(_HttpGenerator[HttpTemplateConfig]):
    """Any JSON API: ``POST {url}`` with `body_template`; the image at `image_path`.

    In the template, a string that is exactly ``{seed}`` (or ``{width}``, ``{height}``,
    ``{steps}``) becomes a number; elsewhere ``{prompt}``, ``{seed}``, ``{width}``, ``{height}``,
    ``{size}`` (``WxH``) and ``{steps}`` are replaced inside strings. A response whose content type
    is ``image/*`` is taken as the image itself.
    """

    DEFAULT_TEMPLATE: ClassVar[dict[str, Any]] = {
        "prompt": "{prompt}",
        "seed": "{seed}",
        "width": "{width}",
        "height": "{height}",
    }

    def request_body(self, prompt: str, seed: int, size: tuple[int, int]) -> Any:
        """`body_template` (or a default) with the placeholders filled in."""
        values = {
            "prompt": prompt,
            "seed": seed,
            "width": size[0],
            "height": size[1],
            "size": f"{size[0]}x{size[1]}",
            "steps": self.config.steps,
        }
        return fill_template(self.config.body_template or self.DEFAULT_TEMPLATE, values)

    def extract(self, response: httpx.Response) -> tuple[bytes, Any]:
        """Raw image bodies as they are; JSON bodies through `image_path`."""
        if response.headers.get("content-type", "").startswith("image/"):
            check_image(response.content)
            return response.content, {}
        return super().extract(response)

    def image_field(self, payload: Any) -> Any:
        """The value at `image_path`."""
        return self._field(payload, self.config.image_path)

    def steps(self, payload: Any) -> int | None:
        """The configured steps."""
        return self.config.steps


def fill_template(template: Any, values: Mapping[str, Any]) -> Any:
    """Replace ``{name}`` placeholders in every string of a JSON-like template (pure)."""
    if isinstance(template, str):
        for name, value in values.items():
            if template == "{" + name + "}":
                return value
        for name, value in values.items():
            template = template.replace("{" + name + "}", "" if value is None else str(value))
        return template
    if isinstance(template, Mapping):
        return {key: fill_template(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [fill_template(item, values) for item in template]
    return template


register_generator("openai_images", OpenAIImagesConfig, OpenAIImages)
register_generator("a1111", A1111Config, A1111)
register_generator("http", HttpTemplateConfig, HttpTemplate)


def make_generator(
    config: GeneratorConfigBase,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Generator:
    """The adapter for `config.kind`; reads the API key file now (ConfigError if unreadable)."""
    return GENERATOR_KINDS[config.kind].plugin(config, transport=transport, clock=clock)
