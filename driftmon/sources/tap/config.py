"""`sources.tap`: the transparent proxy in front of the generator (docs/tap.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from driftmon.config_base import Seconds, Section

#: the routes the tap knows by name; `routes` may add generic ones
BuiltinRoute = Literal["openai_images", "a1111"]
BUILTIN_ROUTES: tuple[BuiltinRoute, ...] = ("openai_images", "a1111")


class TapRouteConfig(Section):
    """A generic JSON route: where the prompt is in the request and the image in the answer."""

    #: the request path, matched exactly (``/api/generate``)
    path: str
    method: str = "POST"
    #: dotted path to the prompt in the JSON request (``input.prompt``); None: no prompt
    prompt_path: str | None = "prompt"
    #: dotted path to the image in the JSON answer; ``*`` takes every item of a list
    #: (``data.*.b64_json``); base64 (a ``data:`` prefix allowed) or an http(s) URL
    image_path: str = "image"
    #: dotted path to the model version in the answer, else `model_version_header`, else `model_version`
    model_version_path: str | None = None
    model_version_header: str | None = None
    model_version: str = "unknown"

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("a route path starts with /")
        return value


class TapConfig(Section):
    """The tap: every request proxied to `upstream`, recognised routes sampled."""

    enabled: bool = False
    #: host:port the tap listens on (the port the Service targets in sidecar mode)
    listen: str = "0.0.0.0:9850"
    #: the generator, e.g. http://127.0.0.1:7860
    upstream: str = "http://127.0.0.1:7860"
    #: share of recognised requests whose answers are sampled, decided before any copy
    sample_ratio: float = Field(0.1, ge=0.0, le=1.0)
    #: the built-in routes sampled: openai_images (generations, edits), a1111 (txt2img, img2img)
    builtin: list[BuiltinRoute] = Field(default_factory=lambda: list(BUILTIN_ROUTES))
    #: generic JSON routes
    routes: list[TapRouteConfig] = Field(default_factory=list)
    #: the only timeout of the tap's own making: a generation may take minutes
    connect_timeout: Seconds = 5.0
    #: a sampled request body larger than this is proxied, but not sampled (counted too_large)
    max_request_bytes: int = Field(32 * 1024 * 1024, gt=0)
    #: a sampled answer larger than this is proxied, but not sampled (counted too_large)
    max_response_bytes: int = Field(64 * 1024 * 1024, gt=0)
    #: images given as URLs are fetched off the hot path, bounded in time and size
    fetch_timeout: Seconds = 10.0
    max_fetch_bytes: int = Field(32 * 1024 * 1024, gt=0)
    #: sampled answers waiting to be offered; beyond this the sample is shed (counted)
    max_pending: int = Field(64, ge=1)
    #: OpenAI routes: the model version from this answer header (or JSON path) before the
    #: request's ``model`` field
    model_version_header: str | None = None
    model_version_path: str | None = None
    #: pooled upstream connections
    max_connections: int = Field(100, ge=1)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        _, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("listen must be host:port, e.g. 0.0.0.0:9850")
        return value

    @field_validator("upstream")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("upstream must be an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])
