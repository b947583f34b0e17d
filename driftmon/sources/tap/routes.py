"""What the tap recognises in a finished exchange: prompts, images and meta (pure, no I/O).

    route = RouteTable.from_config(config).match("POST", "/v1/images/generations")
    found = route.extract(exchange)   # -> [Found(image | url, meta), ...]; raises NotSampled

Built-in routes (`sources.tap.builtin`):

    openai_images   POST /v1/images/generations (JSON), /v1/images/edits (multipart);
                    ``data[*].b64_json`` or ``data[*].url``; one sample per image; the model
                    version from the configured answer header / JSON path, else the request's
                    ``model``, else the answer's ``model``
    a1111           POST /sdapi/v1/txt2img and /sdapi/v1/img2img; ``images[*]`` (extra images
                    beyond ``info.all_seeds``, e.g. ControlNet maps, are skipped); seed, steps,
                    sampler and the checkpoint from ``info`` (or ``parameters``); the model
                    version is ``<sd_model_name> [<sd_model_hash[:10]>]``

Generic routes (`sources.tap.routes`) take the prompt and the image by dotted JSON path, the same
paths as the probe's ``http`` adapter (`driftmon.sources.generators.lookup`). Only 2xx answers
are looked at. Request headers other than the content type are never kept (no Authorization, no
cookies).
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.parser
import email.policy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from driftmon.samples import SampleMeta
from driftmon.sources.generators import lookup, lookup_all
from driftmon.sources.tap.config import TapConfig, TapRouteConfig

_MAX_VERSION_LEN = 64
_MAX_PROMPT_LEN = 20_000


class NotSampled(Exception):
    """The exchange holds nothing to sample; `reason` is a short label, never user data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Exchange:
    """One proxied request and its answer, as the tap copied them (bodies decoded of any
    content-encoding). Only the headers needed to read the bodies are kept."""

    method: str
    path: str
    request_content_type: str
    request_body: bytes
    status: int
    response_headers: Mapping[str, str]
    response_body: bytes
    latency_seconds: float
    request_id: str


@dataclass(frozen=True, slots=True)
class Found:
    """One image to offer: base64 text or bytes in `image`, or a URL to fetch."""

    meta: SampleMeta
    image: bytes | str = b""
    url: str | None = None


class Route(Protocol):
    @property
    def name(self) -> str: ...

    def matches(self, method: str, path: str) -> bool: ...

    def extract(self, exchange: Exchange) -> list[Found]: ...


# -- pure helpers ---------------------------------------------------------------------------------


def json_body(body: bytes, what: str) -> Any:
    """The parsed JSON, or NotSampled(bad_json)."""
    try:
        return json.loads(body)
    except ValueError:
        raise NotSampled(f"{what}_not_json") from None


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a multipart/form-data body (files skipped)."""
    if not content_type.lower().startswith("multipart/"):
        raise NotSampled("request_not_multipart")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", "replace")
    return fields


def request_fields(exchange: Exchange) -> Mapping[str, Any]:
    """The request's JSON object or form fields ({} when it is neither)."""
    if exchange.request_content_type.lower().startswith("multipart/"):
        return form_fields(exchange.request_content_type, exchange.request_body)
    payload = json_body(exchange.request_body, "request")
    return payload if isinstance(payload, Mapping) else {}


def text(value: Any, limit: int = _MAX_VERSION_LEN) -> str | None:
    """A non-empty scalar as a bounded string; None otherwise."""
    if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:limit]
    return None


def integer(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def found_path(data: Any, dotted: str | None) -> Any:
    if not dotted:
        return None
    with contextlib.suppress(KeyError):
        return lookup(data, dotted)
    return None


def image_item(value: Any, meta: SampleMeta) -> Found | None:
    """A base64 string (``data:`` prefix allowed) or an http(s) URL as a Found; None otherwise."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith(("http://", "https://")):
        return Found(meta, url=value)
    if value.startswith("data:"):
        value = value.partition(",")[2]
    return Found(meta, image="".join(value.split()))


def prompt_text(value: Any) -> str | None:
    return value[:_MAX_PROMPT_LEN] if isinstance(value, str) else None


# -- the routes -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenAIImagesRoute:
    """OpenAI Images: generations (JSON) and edits (multipart)."""

    version_header: str | None = None
    version_path: str | None = None
    name: str = "openai_images"
    paths: tuple[str, ...] = ("/v1/images/generations", "/v1/images/edits")

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and path in self.paths

    def extract(self, exchange: Exchange) -> list[Found]:
        request = request_fields(exchange)
        answer = json_body(exchange.response_body, "answer")
        meta = SampleMeta(
            prompt=prompt_text(request.get("prompt")),
            model_version=self.model_version(request, answer, exchange.response_headers),
            request_id=exchange.request_id,
            latency_seconds=exchange.latency_seconds,
        )
        items = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(items, list):
            raise NotSampled("answer_without_data")
        found = [
            image_item(item.get("b64_json") or item.get("url"), meta)
            for item in items
            if isinstance(item, Mapping)
        ]
        return [item for item in found if item is not None]

    def model_version(self, request: Mapping[str, Any], answer: Any, headers: Mapping[str, str]) -> str:
        candidates = (
            headers.get(self.version_header.lower()) if self.version_header else None,
            found_path(answer, self.version_path),
            request.get("model"),
            answer.get("model") if isinstance(answer, Mapping) else None,
        )
        return next((t for t in map(text, candidates) if t), "unknown")


@dataclass(frozen=True, slots=True)
class A1111Route:
    """AUTOMATIC1111 / Forge: txt2img and img2img."""

    name: str = "a1111"
    paths: tuple[str, ...] = ("/sdapi/v1/txt2img", "/sdapi/v1/img2img")

    def matches(self, method: str, path: str) -> bool:
        return method == "POST" and path in self.paths

    def extract(self, exchange: Exchange) -> list[Found]:
        request = request_fields(exchange)
        answer = json_body(exchange.response_body, "answer")
        if not isinstance(answer, Mapping) or not isinstance(answer.get("images"), list):
            raise NotSampled("answer_without_images")
        info = self.info(answer)
        all_seeds = info.get("all_seeds")
        seeds: list[Any] = all_seeds if isinstance(all_seeds, list) else []
        images = answer["images"][: len(seeds)] if seeds else answer["images"][:1]
        base = SampleMeta(
            prompt=prompt_text(request.get("prompt", info.get("prompt"))),
            model_version=self.model_version(info, request),
            request_id=exchange.request_id,
            latency_seconds=exchange.latency_seconds,
            steps=integer(info.get("steps")),
            labels={"sampler": s} if (s := text(info.get("sampler_name"))) else {},
        )
        found = []
        for index, image in enumerate(images):
            seed = integer(seeds[index]) if index < len(seeds) else integer(info.get("seed"))
            item = image_item(image, dataclasses.replace(base, seed=seed))
            if item is not None:
                found.append(item)
        return found

    @staticmethod
    def info(answer: Mapping[str, Any]) -> Mapping[str, Any]:
        """``info`` (a JSON string in the API) decoded, over ``parameters``."""
        info = answer.get("info")
        if isinstance(info, str):
            with contextlib.suppress(ValueError):
                info = json.loads(info)
        parameters = answer.get("parameters")
        merged = dict(parameters) if isinstance(parameters, Mapping) else {}
        if isinstance(info, Mapping):
            merged.update(info)
        return merged

    @staticmethod
    def model_version(info: Mapping[str, Any], request: Mapping[str, Any]) -> str:
        """``<checkpoint> [<short hash>]``; the request's checkpoint override when info names none."""
        name = text(info.get("sd_model_name"))
        if name is None:
            overrides = request.get("override_settings")
            name = text(overrides.get("sd_model_checkpoint")) if isinstance(overrides, Mapping) else None
        short_hash = text(info.get("sd_model_hash"))
        if name and short_hash:
            return f"{name} [{short_hash[:10]}]"[:_MAX_VERSION_LEN]
        return name or short_hash or "unknown"


@dataclass(frozen=True, slots=True)
class GenericRoute:
    """A configured JSON route (`TapRouteConfig`)."""

    config: TapRouteConfig
    name: str = field(default="generic")

    def matches(self, method: str, path: str) -> bool:
        return method == self.config.method.upper() and path == self.config.path

    def extract(self, exchange: Exchange) -> list[Found]:
        config = self.config
        prompt = None
        if config.prompt_path:
            prompt = prompt_text(found_path(request_fields(exchange), config.prompt_path))
        content_type = exchange.response_headers.get("content-type", "")
        header_version = exchange.response_headers.get((config.model_version_header or "").lower())
        if content_type.startswith("image/"):
            meta = self.meta(prompt, text(header_version), exchange)
            return [Found(meta, image=exchange.response_body)]
        answer = json_body(exchange.response_body, "answer")
        version = text(found_path(answer, config.model_version_path)) or text(header_version)
        meta = self.meta(prompt, version, exchange)
        found = [image_item(value, meta) for value in lookup_all(answer, config.image_path)]
        return [item for item in found if item is not None]

    def meta(self, prompt: str | None, version: str | None, exchange: Exchange) -> SampleMeta:
        return SampleMeta(
            prompt=prompt,
            model_version=version or self.config.model_version,
            request_id=exchange.request_id,
            latency_seconds=exchange.latency_seconds,
        )


class RouteTable:
    """The routes the tap samples, first match wins."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)

    @classmethod
    def from_config(cls, config: TapConfig) -> RouteTable:
        routes: list[Route] = [GenericRoute(route, name=f"generic:{route.path}") for route in config.routes]
        if "openai_images" in config.builtin:
            routes.append(OpenAIImagesRoute(config.model_version_header, config.model_version_path))
        if "a1111" in config.builtin:
            routes.append(A1111Route())
        return cls(routes)

    def match(self, method: str, path: str) -> Route | None:
        return next((route for route in self.routes if route.matches(method, path)), None)
